"""A run directory's model files: ``config.json`` + ``model.safetensors``, written atomically
(``dfcvae.files``) and loaded without unpickling.

``config.json`` is the ``RunConfig`` plus ``format`` (``CONFIG_FORMAT``) and the
``dfcvae_version`` that wrote it. Reading migrates older formats explicitly:

- format 1 (no ``format`` key; files written before it was recorded): a ``model`` without
  ``decoder_relu`` is from before that option, when the decoder had no ReLU: ``False``.
- format 2: the ``RunConfig`` as it is.

A format newer than ``CONFIG_FORMAT`` is one line asking for a newer dfcvae.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from dfcvae.errors import ConfigError, RunDirError
from dfcvae.files import CONFIG_FILE, MODEL_FILE, read_tensors, write_json, write_tensors
from dfcvae.saved.checkpoint_weights import checkpoint_file, vae_weights
from dfcvae.vae.fast_paths import fuse_decoder
from dfcvae.vae.model import DFCVAE
from dfcvae.vae.run_config import RunConfig
from dfcvae.version import __version__

CONFIG_FORMAT = 2


def config_document(config: RunConfig) -> dict:
    """What ``config.json`` holds: the config, its format and the version that wrote it."""
    return {"format": CONFIG_FORMAT, "dfcvae_version": __version__, **config.to_dict()}


def migrate(data: object, path: Path) -> object:
    """``config.json``'s content in the current format (see the module docstring)."""
    if not isinstance(data, dict):
        return data  # RunConfig.from_dict says what is wrong with it
    data = dict(data)
    found = data.pop("format", 1)
    data.pop("dfcvae_version", None)
    if not isinstance(found, int) or not 1 <= found <= CONFIG_FORMAT:
        raise RunDirError(
            f"{path}: config format {found!r} is not one this dfcvae ({__version__}) reads "
            f"(1 to {CONFIG_FORMAT}): a newer dfcvae wrote it; upgrade dfcvae"
        )
    model = data.get("model")
    if found < 2 and isinstance(model, dict) and "decoder_relu" not in model:
        data["model"] = {**model, "decoder_relu": False}
    return data


def save_model(run_dir: str | Path, model: DFCVAE, config: RunConfig) -> Path:
    """Write ``config.json`` and ``model.safetensors`` (the VAE only, no loss network)."""
    run_dir = Path(run_dir)
    write_json(run_dir / CONFIG_FILE, config_document(config))
    return write_tensors(run_dir / MODEL_FILE, model.state_dict())


def read_config(run_dir: str | Path) -> RunConfig:
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise RunDirError(f"{path}: missing; is {run_dir} a run directory made by `dfcvae train`?")
    try:
        data = migrate(json.loads(path.read_text()), path)
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
