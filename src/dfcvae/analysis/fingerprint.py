"""What a result was computed from, as content fingerprints: a run is its model file and its
config, not its name, so a run retrained under the same name is another run."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import torch

from dfcvae.errors import RunDirError
from dfcvae.files import MODEL_FILE
from dfcvae.saved.model_files import read_config

CHUNK = 1 << 20
# (path, size, mtime_ns) -> sha256 of the file: a model is hashed once per process.
_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes (hex), remembered while its size and mtime stay the same."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as error:
        raise RunDirError(f"{path}: cannot be read ({error.strerror})") from None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _FILE_HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as file:
            for chunk in iter(lambda: file.read(CHUNK), b""):
                digest.update(chunk)
        _FILE_HASHES[key] = digest.hexdigest()
    return _FILE_HASHES[key]


def json_digest(value: object) -> str:
    """sha256 of a JSON value in canonical form (sorted keys, no spaces)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def run_fingerprint(run_dir: str | Path) -> str:
    """The identity of a trained run: sha256 of its model file's bytes and its parsed config.
    Retraining (``--resume``, ``--force``) changes it; renaming or moving the folder does not."""
    run_dir = Path(run_dir)
    model = run_dir / MODEL_FILE
    if not model.is_file():
        raise RunDirError(f"{model}: missing; is {run_dir} a run directory made by `dfcvae train`?")
    config = read_config(run_dir).to_dict()
    return json_digest({"model": file_digest(model), "config": config})


def weights_fingerprint(state: Mapping[str, torch.Tensor] | torch.nn.Module) -> str:
    """sha256 of a model's weights as loaded (a module's state dict, or a state dict): each
    tensor's name, dtype, shape and bytes, in name order. The same for the same weights
    whichever file they were read from (``model.safetensors`` or a checkpoint) and on any
    device."""
    if isinstance(state, torch.nn.Module):
        state = state.state_dict()
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach()
        digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def folder_fingerprint(folder: str | Path) -> str:
    """sha256 of the names and bytes of the files directly in ``folder`` (e.g. a
    ``train-classifier`` folder), or of the file itself."""
    folder = Path(folder)
    if folder.is_file():
        return file_digest(folder)
    if not folder.is_dir():
        raise RunDirError(f"{folder}: missing")
    files = sorted(path for path in folder.iterdir() if path.is_file())
    return json_digest({path.name: file_digest(path) for path in files})
