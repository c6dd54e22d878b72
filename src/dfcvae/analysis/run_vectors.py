"""A run's own attribute vectors, kept in ``RUN/analysis/attribute_vectors.safetensors`` with the
fingerprint of the model they were computed from, so that a run retrained under the same name
(``train --resume`` or ``--force``) never has the old model's vectors reused for it."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from dfcvae.analysis.attributes import (
    VECTORS_FILE,
    attribute_vectors,
    read_attribute_vectors,
    save_attribute_vectors,
)
from dfcvae.analysis.fingerprint import run_fingerprint
from dfcvae.analysis.runs import MissingLabelsError, Run
from dfcvae.errors import RunDirError

# The file `dfcvae attribute-vectors RUN` writes by default; `edit`, `attribute-correlation`
# and `explore` reuse it while it belongs to the run's current model.
VECTORS_CACHE = Path("analysis") / VECTORS_FILE
FINGERPRINT_KEY = "model_fingerprint"


def vectors_metadata(run_dir: str | Path, split: str, fingerprint: str | None = None) -> dict:
    """Where attribute vectors come from: the run, the split, the code (mu) and the model's
    fingerprint (``run_fingerprint``; computed when not given)."""
    fingerprint = fingerprint or run_fingerprint(run_dir)
    return {"run": str(run_dir), "split": split, "code": "mu", FINGERPRINT_KEY: fingerprint}


def vectors_fingerprint(path: str | Path) -> str | None:
    """The model fingerprint stored with an attribute-vectors file (None: none stored)."""
    try:
        with safe_open(str(path), framework="pt") as file:
            return (file.metadata() or {}).get(FINGERPRINT_KEY)
    except (SafetensorError, OSError):
        return None


def current_vectors(run_dir: str | Path, path: str | Path) -> dict[str, torch.Tensor] | None:
    """The vectors in ``path`` when they were computed from the run's current model; None (with
    a warning saying why) when the file is missing, unreadable, or from another model."""
    path = Path(path)
    if not path.is_file():
        return None
    if vectors_fingerprint(path) != run_fingerprint(run_dir):
        warnings.warn(
            f"{path}: computed from another model than {run_dir}'s current one (retrained?); "
            "computing them again",
            stacklevel=2,
        )
        return None
    try:
        return read_attribute_vectors(path)
    except RunDirError as error:
        warnings.warn(f"{error}; computing the attribute vectors again", stacklevel=2)
        return None


def cached_attribute_vectors(run: Run, progress: bool = True) -> dict[str, torch.Tensor]:
    """The run's attribute vectors (name -> (latent_dim,)) from ``RUN/analysis/`` when they
    belong to its current model, else computed over the train split and written there
    atomically. {} without labels."""
    path = run.run_dir / VECTORS_CACHE
    vectors = current_vectors(run.run_dir, path)
    if vectors is not None:
        return vectors
    if progress:
        print(
            f"{run.name}: attribute vectors over the train split, once; they are kept in {path}",
            file=sys.stderr,
        )
    try:
        vectors = attribute_vectors(run, device=str(run.device), progress=progress)
    except MissingLabelsError as error:
        warnings.warn(f"{run.name}: no attribute sliders ({error})", stacklevel=2)
        return {}
    try:
        save_attribute_vectors(path, vectors, vectors_metadata(run.run_dir, "train"))
    except OSError as error:
        warnings.warn(f"{path}: not cached ({error.strerror})", stacklevel=2)
    return vectors
