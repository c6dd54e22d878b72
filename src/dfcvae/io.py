"""Atomic writes and the run directory's model files: ``config.json`` + ``model.safetensors``.

Every write goes to a temporary file in the same folder, flushed to disk, then ``os.replace``: a
crash or a power cut leaves the old file or the new one, never half of one. Loading never
unpickles.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dfcvae.errors import ConfigError, RunDirError
from dfcvae.model import DFCVAE
from dfcvae.run_config import RunConfig

CONFIG_FILE = "config.json"
_UMASK = os.umask(0o022)
os.umask(_UMASK)
MODEL_FILE = "model.safetensors"


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)``, flush the temporary file to disk, then rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as f:  # without this a power cut can leave the new file empty
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)  # makes the rename itself durable
    return path


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # folders cannot be opened on Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(path: str | Path, data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2) + "\n")


def write_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata=None) -> Path:
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """A safetensors file, with one clear line if it is missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path}: missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise RunDirError(f"{path}: corrupt or not a safetensors file ({error})") from None


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


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[DFCVAE, RunConfig]:
    """The trained model (eval mode) and its config from a run directory."""
    config = read_config(run_dir)
    model = DFCVAE(config.model)
    try:
        model.load_state_dict(read_tensors(Path(run_dir) / MODEL_FILE))
    except RuntimeError as error:
        raise RunDirError(
            f"{Path(run_dir) / MODEL_FILE}: does not fit config.json ({error})"
        ) from None
    return model.to(device).eval(), config


def load(run_dir: str | Path, device: str | torch.device = "cpu") -> DFCVAE:
    """``dfcvae.load(run_dir)``: rebuild the trained model from ``config.json`` and weights."""
    return load_run(run_dir, device)[0]
