"""Attribute vectors in the latent space, editing with them, and their correlations.

attribute vector = mean mu of the images with the attribute - mean mu of those without.
On class-labelled sets (Fashion-MNIST, MNIST, CIFAR-10) each class is a one-vs-rest attribute.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open

from dfcvae.analysis.latents import decode, encode, encode_dataset
from dfcvae.analysis.runs import MissingLabelsError, RunLike, open_run
from dfcvae.analysis.selection import check_count, check_split, choose_indices, stack_images
from dfcvae.errors import ConfigError
from dfcvae.files import read_tensors, write_tensors

VECTORS_FILE = "attribute_vectors.safetensors"
ORDER_KEY = "attribute_order"


def binary_labels(dataset) -> tuple[np.ndarray, list[str]]:
    """A labelled split as (N, A) booleans and the A attribute names.

    Attribute sets give their columns; class sets give one column per class (one-vs-rest).
    """
    labels, kind = dataset.labels, dataset.label_kind
    if labels is None or kind is None:
        raise MissingLabelsError(
            f"the {dataset.name} data set has no labels: attribute vectors, attribute prediction "
            "and colouring by attribute need attributes or classes (for a folder, train the run "
            "with `dfcvae train --labels-file CSV`)"
        )
    names = list(dataset.label_names)
    if kind == "attributes":
        return np.asarray(labels) > 0, names  # {0, 1}; -1 would also mean absent
    classes = np.asarray(labels).astype(np.int64)
    count = max(len(names), int(classes.max()) + 1)
    names = names + [str(k) for k in range(len(names), count)]
    return classes[:, None] == np.arange(count)[None, :], names


def check_attribute(name: str, names: Sequence[str], option: str = "--attribute") -> str:
    """``name`` if it is one of ``names``, else one line listing the valid ones."""
    if name not in names:
        raise ConfigError(f"{option} {name!r} does not exist: choose one of {', '.join(names)}")
    return name


def attribute_vectors_from_latents(
    mu: torch.Tensor, positives: np.ndarray | torch.Tensor, names: Sequence[str]
) -> dict[str, torch.Tensor]:
    """mean(mu | attribute) - mean(mu | not attribute), per attribute.

    mu: (N, D); positives: (N, A) booleans; names: A names. Returns name -> (D,) float32.
    Attributes without positives or without negatives have no vector: they are left out, with
    a warning naming them.
    """
    mu = mu.float()
    positives = torch.as_tensor(np.asarray(positives), dtype=torch.bool)
    if positives.shape != (mu.shape[0], len(names)):
        raise ValueError(f"positives {tuple(positives.shape)} do not fit mu {tuple(mu.shape)}")
    vectors, missing = {}, []
    for column, name in enumerate(names):
        mask = positives[:, column]
        if mask.all() or not mask.any():
            missing.append(name)
            continue
        vectors[name] = mu[mask].mean(0) - mu[~mask].mean(0)
    if missing:
        warnings.warn(
            f"no attribute vector for {', '.join(missing)}: all images agree on it", stacklevel=2
        )
    return vectors


def attribute_vectors(
    run: RunLike,
    split: str = "train",
    *,
    limit: int | None = None,
    device: str = "cpu",
    batch_size: int = 256,
    progress: bool = True,
) -> dict[str, torch.Tensor]:
    """Attribute vectors of a run over ``split`` (default the train split, as in the paper):
    name -> (latent_dim,) float32. limit: the first ``limit`` images (default the run's)."""
    check_split(split)
    run = open_run(run, device)
    dataset = run.dataset(split, limit=limit, progress=progress)
    positives, names = binary_labels(dataset)
    mu = encode_dataset(run.model, dataset, batch_size, progress, desc=f"encoding {split}")
    return attribute_vectors_from_latents(mu, positives, names)


def save_attribute_vectors(
    path: str | Path, vectors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None
) -> Path:
    """A safetensors file whose keys are the attribute names (written atomically); the data
    set's attribute order is kept in the metadata, as safetensors sorts its keys."""
    metadata = {**(metadata or {}), ORDER_KEY: json.dumps(list(vectors))}
    return write_tensors(path, dict(vectors), metadata=metadata)


def read_attribute_vectors(path: str | Path) -> dict[str, torch.Tensor]:
    """Attribute name -> (latent_dim,) vector, in the data set's order when it was saved."""
    vectors = read_tensors(path)
    with safe_open(str(path), framework="pt") as file:
        order = json.loads((file.metadata() or {}).get(ORDER_KEY, "[]"))
    ordered = [name for name in order if name in vectors]
    return {name: vectors[name] for name in ordered + sorted(set(vectors) - set(ordered))}


def edit(
    run: RunLike,
    attribute: str,
    strengths: Sequence[float] = (-2.0, -1.0, 0.0, 1.0, 2.0),
    n: int = 8,
    *,
    vectors: Mapping[str, torch.Tensor] | None = None,
    split: str = "test",
    device: str = "cpu",
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> torch.Tensor:
    """Add ``strength * attribute_vector`` to mu of ``n`` test images and decode.

    Returns (n, 1 + S, C, H, W) in [0, 1]: column 0 is the input image, then one column per
    strength (negative strengths remove the attribute, e.g. "removing eyeglasses").
    vectors: precomputed attribute vectors; default computed over the train split.
    """
    check_split(split)
    check_count(n)
    if len(strengths) == 0:
        raise ConfigError("--strength: give at least one strength")
    run = open_run(run, device)
    dataset = run.dataset(split, progress=progress)
    if vectors is None:
        _, names = binary_labels(dataset)
        check_attribute(attribute, names)
        vectors = attribute_vectors(run, batch_size=max(batch_size, 256), progress=progress)
    check_attribute(attribute, list(vectors))
    vector = vectors[attribute].float()
    if vector.shape != (run.config.model.latent_dim,):
        raise ConfigError(
            f"the {attribute} vector has {vector.shape[0]} dimensions; this run's latent code "
            f"has {run.config.model.latent_dim}: were the vectors made for another run?"
        )
    inputs = stack_images(dataset, choose_indices(len(dataset), n, seed))
    mu = encode(run.model, inputs, batch_size)
    scale = torch.tensor([float(s) for s in strengths]).view(1, -1, 1)
    codes = mu.unsqueeze(1) + scale * vector.view(1, 1, -1)
    edited = decode(run.model, codes.flatten(0, 1), batch_size)
    edited = edited.view(mu.shape[0], len(strengths), *edited.shape[1:])
    return torch.cat([inputs.unsqueeze(1), edited], dim=1)


def attribute_correlation(vectors: Mapping[str, torch.Tensor]) -> tuple[list[str], np.ndarray]:
    """Cosine similarity of every pair of attribute vectors (the paper's correlation figure).

    Returns the names and an (A, A) float64 matrix in [-1, 1] with ones on the diagonal.
    """
    names = list(vectors)
    if not names:
        raise ConfigError("no attribute vectors to correlate")
    matrix = torch.stack([vectors[name].double().flatten() for name in names])
    unit = matrix / matrix.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return names, (unit @ unit.T).clamp(-1, 1).numpy()
