"""A trained run opened for analysis: its model, its config and its data; the device it runs
on, and the names runs are shown by. Which images and draws an analysis takes is
``selection``; a user's own image file is ``user_images``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from dfcvae.analysis.selection import check_split
from dfcvae.errors import ConfigError, DFCVAEError, RunDirError
from dfcvae.saved.checkpoint_weights import checkpoint_file
from dfcvae.saved.model_files import load_run
from dfcvae.vae.model import DFCVAE
from dfcvae.vae.run_config import RunConfig


class MissingLabelsError(DFCVAEError):
    """An analysis that needs labels (attributes or classes) on a data set without them."""


@dataclass
class Run:
    """A run directory loaded once: ``model`` (eval mode, on ``device``) and its ``config``;
    ``checkpoint``: the Lightning checkpoint its weights were read from, None when they are the
    run's ``model.safetensors`` (or were given in memory)."""

    run_dir: Path
    model: DFCVAE
    config: RunConfig
    checkpoint: Path | None = None

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def dataset(self, split: str = "test", limit: int | None = None, progress: bool = True):
        """The run's data set, one split, at the model's size and channels (no augmentation).

        limit: keep the first ``limit`` images; default the run's own ``data.limit``.
        """
        check_split(split)
        return self.config.data.build(
            split,
            image_size=self.config.model.image_size,
            channels=self.config.model.channels,
            limit=limit,
            progress=progress,
        )


RunLike = str | Path | Run


def resolve_device(device: str | torch.device = "cpu") -> torch.device:
    """``"auto"`` is CUDA when available, else CPU; anything else is passed to torch."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"--device {device!r}: use cpu, cuda, cuda:N or auto") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available here; use cpu or auto")
    return resolved


def open_run(
    run: RunLike,
    device: str | torch.device = "cpu",
    *,
    data_root: str | Path | None = None,
    checkpoint: str | Path | None = None,
) -> Run:
    """A ``Run`` from a run directory (or the same ``Run`` moved to ``device``).

    data_root: read the data from there instead of the folder in ``config.json`` (a run moved
    to another machine, or trained with a relative ``--data-root``); checkpoint: load a
    Lightning checkpoint of the run instead of ``model.safetensors``
    (``dfcvae.saved.model_files.load_run``).
    """
    device = resolve_device(device)
    if isinstance(run, Run):
        if run.device != device:
            run.model.to(device)
        if data_root is not None:
            run.config = run.config.with_data_root(data_root)
        return run
    run_dir = Path(run)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    if checkpoint is not None:
        checkpoint = checkpoint_file(run_dir, checkpoint)
    model, config = load_run(run_dir, device, checkpoint)
    return Run(run_dir, model, config.with_data_root(data_root), checkpoint)


def run_names(run_dirs: Sequence[str | Path]) -> list[str]:
    """Each run's folder name, made unique with its parent folder (then a number) if needed."""
    paths = [Path(run_dir) for run_dir in run_dirs]
    names = [path.name for path in paths]
    if len(set(names)) < len(names):
        names = [f"{path.parent.name}/{path.name}" for path in paths]
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return unique
