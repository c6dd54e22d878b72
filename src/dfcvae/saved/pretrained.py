"""Sharing a trained model in the layout of the Hugging Face Hub: a folder of ``config.json``
(the run's ``RunConfig``), ``model.safetensors`` (the VAE only) and ``README.md`` (a model card
generated from the run). Such a folder is also a run directory: ``dfcvae.load`` and the analysis
commands read it as they read the run itself.

``from_pretrained`` takes a folder, or a Hub repo id (``owner/name``) through ``huggingface_hub``
(the ``hub`` extra): offline (``DFCVAE_OFFLINE`` or ``HF_HUB_OFFLINE``) only the local Hugging
Face cache is read, and a repo that is not there is one line.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from dfcvae.errors import ConfigError, RunDirError, first_line
from dfcvae.files import CONFIG_FILE, MODEL_FILE, write_text
from dfcvae.offline import is_offline
from dfcvae.saved.checkpoint_weights import checkpoint_file
from dfcvae.saved.model_card import model_card
from dfcvae.saved.model_files import load, load_run, save_model
from dfcvae.vae.model import DFCVAE
from dfcvae.vae.run_config import RunConfig

CARD_FILE = "README.md"
SHARED_FILES = (CONFIG_FILE, MODEL_FILE, CARD_FILE)
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def save_pretrained(
    run: str | Path,
    directory: str | Path,
    *,
    checkpoint: str | Path | None = None,
    metrics: str | Path | dict[str, Any] | None = None,
) -> Path:
    """Write ``directory/config.json``, ``model.safetensors`` and ``README.md`` for the run
    directory ``run`` and return ``directory``.

    checkpoint: share a Lightning checkpoint of the run instead of its ``model.safetensors``;
    metrics: ``dfcvae evaluate``'s ``metrics.json`` (or its dict): the run's entry goes into the
    model card. Paths of the sharer's machine (data, cache, loss-network weights) are left out.
    """
    model, config = load_run(run, checkpoint=checkpoint)
    shared = shareable(config)
    directory = Path(directory)
    save_model(directory, model, shared)
    steps = trained_steps(run, checkpoint)
    card = model_card(shared, Path(run).name, steps, run_metrics(metrics, run))
    write_text(directory / CARD_FILE, card)
    return directory


def from_pretrained(
    name_or_path: str | Path,
    device: str | torch.device = "cpu",
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
) -> DFCVAE:
    """The model (eval mode) of a folder written by ``save_pretrained`` (or any run directory),
    or of a Hub repo id ``owner/name`` (downloaded once into the Hugging Face cache)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return load(path, device)
    if not REPO_ID.match(str(name_or_path)):
        raise RunDirError(f"{name_or_path}: no such folder, and not a Hub repo id (owner/name)")
    return load(hub_folder(str(name_or_path), revision, cache_dir), device)


def hub_folder(repo_id: str, revision: str | None, cache_dir: str | Path | None) -> Path:
    """The repo's snapshot in the local Hugging Face cache, downloaded first when online."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:
        raise ConfigError(
            f"{repo_id}: loading from the Hugging Face Hub needs huggingface_hub: "
            "pip install 'dfcvae[hub]' (or pass a folder)"
        ) from None
    offline = is_offline() or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true")
    try:
        folder = snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=cache_dir,
            allow_patterns=list(SHARED_FILES),
            local_files_only=offline,
        )
    except LocalEntryNotFoundError:
        raise RunDirError(
            f"{repo_id}: no such folder, and not in the local Hugging Face cache while downloads "
            "are off (DFCVAE_OFFLINE or HF_HUB_OFFLINE): load it once online, or pass a folder"
        ) from None
    except Exception as error:  # noqa: BLE001 - HTTP, repository and network errors alike
        raise RunDirError(f"{repo_id}: cannot fetch it ({first_line(error, 160)})") from None
    return Path(folder)


def shareable(config: RunConfig) -> RunConfig:
    """The config without the paths of this machine: whoever loads it gives ``--data-root``
    (and ``--loss-weights`` to train on) themselves."""
    data = replace(config.data, root=None, labels_file=None, cache_dir=None)
    weights = config.loss.loss_weights if config.loss.loss_weights == "random" else None
    return replace(config, data=data, loss=replace(config.loss, loss_weights=weights))


def trained_steps(run: str | Path, checkpoint: str | Path | None) -> int | None:
    """The optimizer steps behind the shared weights: the checkpoint's, else ``last.ckpt``'s
    (written when training ended), else None (unknown)."""
    try:
        path = checkpoint_file(run, checkpoint or "last.ckpt")
        state = torch.load(path, map_location="cpu", weights_only=True)
        return int(state["global_step"])
    except Exception:  # noqa: BLE001 - no checkpoint, or an unreadable one: steps unknown
        return None


def run_metrics(metrics: str | Path | dict[str, Any] | None, run: str | Path) -> dict | None:
    """The entry of ``run`` in ``evaluate``'s result (matched by its run_dir), if any."""
    if metrics is None:
        return None
    if not isinstance(metrics, dict):
        try:
            metrics = json.loads(Path(metrics).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ConfigError(f"--metrics {metrics}: not readable JSON ({error})") from None
    here = Path(run).resolve()
    for entry in metrics.get("runs", {}).values():
        if Path(entry.get("run_dir", "")).resolve() == here:
            return {**entry, "split": metrics.get("split"), "n": metrics.get("n")}
    raise ConfigError(f"--metrics: holds no entry for {run} (evaluate it with that run)")
