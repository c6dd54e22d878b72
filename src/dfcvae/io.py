"""A run directory's model files: ``config.json`` + ``model.safetensors``, written atomically
(``dfcvae.files``) and loaded without unpickling."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from dfcvae.checkpoint_weights import checkpoint_file, vae_weights
from dfcvae.errors import ConfigError, RunDirError
from dfcvae.fast_paths import fuse_decoder
from dfcvae.files import CONFIG_FILE, MODEL_FILE, read_tensors, write_json, write_tensors
from dfcvae.model import DFCVAE
from dfcvae.run_config import RunConfig


def save_model(run_dir: str | Path, model: DFCVAE, config: RunConfig) -> Path:
    """Write ``config.json`` and ``model.safetensors`` (the VAE only, no loss network)."""
    run_dir = Path(run_dir)
    write_json(run_dir / CONFIG_FILE, config.to_dict())
    return write_tensors(run_dir / MODEL_FILE, model.state_dict())


def read_config(run_dir: str | Path) -> RunConfig:
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise RunDirError(f"{path}: missing; is {run_dir} a run directory made by `dfcvae train`?")
    try:
        data = json.loads(path.read_text())
        model = data.get("model") if isinstance(data, dict) else None
        if isinstance(model, dict) and "decoder_relu" not in model:
            model["decoder_relu"] = False  # saved before the option: the decoder had no ReLU
        return RunConfig.from_dict(data, source=str(path))
    except json.JSONDecodeError as error:
        raise RunDirError(f"{path}: not valid JSON ({error})") from None
    except ConfigError as error:
        raise RunDirError(str(error)) from None


def load_run(
    run_dir: str | Path, device: str | torch.device = "cpu", checkpoint: str | Path | None = None
) -> tuple[DFCVAE, RunConfig]:
    """The trained model (eval mode, its decoder fused: ``fast_paths.fuse_decoder``) and its
    config from a run directory.

    checkpoint: a Lightning checkpoint of the run (``checkpoints/last.ckpt``, a path, or a file
    name in ``RUN/checkpoints/``) instead of ``model.safetensors``: an interrupted or unfinished
    run loads too, without the loss network.
    """
    config = read_config(run_dir)
    model = fuse_decoder(DFCVAE(config.model))
    if checkpoint is None:
        path = Path(run_dir) / MODEL_FILE
        weights = read_tensors(path)
    else:
        path = checkpoint_file(run_dir, checkpoint)
        weights = vae_weights(path)
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        raise RunDirError(f"{path}: does not fit config.json ({error})") from None
    return model.to(device).eval(), config


def load(
    run_dir: str | Path, device: str | torch.device = "cpu", checkpoint: str | Path | None = None
) -> DFCVAE:
    """``dfcvae.load(run_dir)``: rebuild the trained model from ``config.json`` and weights
    (``model.safetensors``, or ``checkpoint=`` any Lightning checkpoint of the run)."""
    return load_run(run_dir, device, checkpoint)[0]
