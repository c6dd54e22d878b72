"""The VAE's weights from a Lightning checkpoint of a run (``checkpoints/last.ckpt``, one per
epoch or every N steps, an interrupted run's newest), for inference: no Lightning module is
built, so the loss network and its weights are never needed. Read with ``weights_only=True``:
tensors and plain containers only, never unpickled code."""

from __future__ import annotations

from pathlib import Path

import torch

from dfcvae.errors import RunDirError, first_line

VAE_PREFIX = "vae."  # the LightningModule keeps the DFCVAE as ``self.vae``
COMPILED = "_orig_mod."  # a compiled module's keys, should a checkpoint carry them


def checkpoint_file(run_dir: str | Path, checkpoint: str | Path) -> Path:
    """``checkpoint`` as given when that file exists, else relative to the run directory
    (``checkpoints/last.ckpt``), else the file's name inside ``RUN/checkpoints/``."""
    given = Path(checkpoint).expanduser()
    for path in (given, Path(run_dir) / given, Path(run_dir) / "checkpoints" / given):
        if path.is_file():
            return path
    folder = Path(run_dir) / "checkpoints"
    raise RunDirError(f"--checkpoint {checkpoint}: no such file, in {run_dir} or in {folder}")


def vae_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``DFCVAE`` state dict inside a training checkpoint; one line naming the file when it
    is unreadable, refused (not plain tensors) or holds no VAE weights."""
    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - UnpicklingError, EOFError, RuntimeError alike
        raise RunDirError(
            f"{path}: not a readable checkpoint (read with weights_only=True: "
            f"{first_line(error, limit=120)})"
        ) from None
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    weights = {
        key[len(VAE_PREFIX) :].replace(COMPILED, ""): value
        for key, value in (state or {}).items()
        if key.startswith(VAE_PREFIX)
    }
    if not weights:
        raise RunDirError(f"{path}: holds no VAE weights (not a checkpoint of `dfcvae train`)")
    return weights
