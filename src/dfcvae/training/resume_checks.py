"""What ``--resume`` checks before it continues a run: the same preset and architecture as the
run was trained with, and something left to train; and the one line that says where it goes on.

Each refusal is one line naming the option to change, before Lightning reads the checkpoint
(which would otherwise fail on a state dict of another shape, or return at once without a word).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from dfcvae.config import flag_name
from dfcvae.errors import ConfigError
from dfcvae.files import CONFIG_FILE
from dfcvae.saved.model_files import read_config
from dfcvae.training.resume import read_checkpoint
from dfcvae.vae.model_config import ModelConfig
from dfcvae.vae.run_config import RunConfig


def check_same_run(out: Path, config: RunConfig) -> None:
    """Refuse to resume ``out`` with another preset or another model than it was trained with."""
    if not (out / CONFIG_FILE).is_file():
        return
    trained = read_config(out)
    if trained.preset != config.preset:
        raise ConfigError(
            f"--resume: {out} was trained with --preset {trained.preset}, not {config.preset}; "
            "train the other preset into another --out"
        )
    changed = model_changes(trained.model, config.model)
    if changed:
        raise ConfigError(
            f"--resume: {out} was trained with {', '.join(changed)}: a resumed run keeps its "
            "architecture; train the new one into another --out"
        )


def model_changes(trained: ModelConfig, wanted: ModelConfig) -> list[str]:
    """``--latent-dim 100, not 50`` for each model option that differs."""
    names = {f.name: f for f in ModelConfig.__dataclass_fields__.values()}
    changes = []
    for name, f in names.items():
        old, new = getattr(trained, name), getattr(wanted, name)
        if old != new:
            option = flag_name(f) if "flag" in f.metadata else f"model.{name}"
            changes.append(f"{option} {_show(old)}, not {_show(new)}")
    return changes


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "[]"
    return str(value)


def announce_resume(out: Path, checkpoint: Path, config: RunConfig) -> None:
    """One line on stderr, ``resuming RUN from step S (E epoch(s) done)``; one line refusing it when
    the run already reached ``--max-steps`` or ``--epochs``."""
    state = read_checkpoint(checkpoint)
    step = int(state["global_step"])
    epochs_done = completed_epochs(state)
    cfg = config.train
    if 0 < cfg.max_steps <= step:
        raise ConfigError(
            f"--resume: {out} already reached step {step} of --max-steps {cfg.max_steps}: "
            "nothing left to train; raise --max-steps to continue"
        )
    if 0 < cfg.epoch_limit() <= epochs_done:
        raise ConfigError(
            f"--resume: {out} already trained {epochs_done} epoch(s) of --epochs "
            f"{cfg.epoch_limit()}: nothing left to train; raise --epochs to continue"
        )
    print(f"resuming {out} from step {step} ({epochs_done} epoch(s) done)", file=sys.stderr)


def completed_epochs(state: dict[str, Any]) -> int:
    """The epochs a checkpoint's run has finished, from its train loader's state (as
    ``ExactResume`` reads it: Lightning's own epoch counters are one off at an epoch's end)."""
    fit_loop = state.get("loops", {}).get("fit_loop", {})
    loaders = fit_loop.get("state_dict", {}).get("combined_loader") or []
    if len(loaders) != 1 or "batches_per_epoch" not in loaders[0]:
        return int(state.get("epoch", 0))
    loader = loaders[0]
    epoch, done = int(loader["epoch"]), int(loader["batches_done"])
    return epoch + 1 if done >= int(loader["batches_per_epoch"]) else epoch
