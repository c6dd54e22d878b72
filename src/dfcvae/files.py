"""Atomic writes and the names of a run directory's files: every write goes to a temporary file
in the same folder, flushed to disk, then ``os.replace``: a crash or a power cut leaves the old
file or the new one, never half of one. Reading never unpickles. A leaf: the training code
that claims run directories and writes checkpoints uses it without loading models."""

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

from dfcvae.errors import RunDirError

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
