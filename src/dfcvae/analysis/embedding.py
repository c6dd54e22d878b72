"""t-SNE of latent codes (scikit-learn), coloured by a class or an attribute."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.manifold import TSNE

from dfcvae.analysis.attributes import binary_labels, check_attribute
from dfcvae.analysis.latents import encode
from dfcvae.analysis.runs import RunLike, open_run
from dfcvae.analysis.selection import check_count, check_split, choose_indices, stack_images
from dfcvae.errors import InputError

CLASS = "class"
AUTO = "auto"
PREFERRED_ATTRIBUTE = "Smiling"


@dataclass
class Embedding:
    """points: (n, 2) t-SNE coordinates; values: (n,) int colour index per point (a class index,
    or 0/1 for an attribute), or None; value_names: the name of each colour index."""

    points: np.ndarray
    values: np.ndarray | None
    value_names: list[str]
    color_by: str | None


def tsne_points(codes: np.ndarray, *, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """codes: (n, D), n >= 3 -> (n, 2) float64. The perplexity is capped at (n - 1) / 3, which
    scikit-learn requires to be below n."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.shape[0] < 3:
        raise InputError(
            f"t-SNE needs at least 3 points, got {codes.shape[0]}: ask for n >= 3 from a split "
            "with at least 3 images"
        )
    perplexity = min(float(perplexity), (codes.shape[0] - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return tsne.fit_transform(codes).astype(np.float64)


def resolve_color_by(dataset, color_by: str | None) -> str | None:
    """``"auto"`` -> ``"class"``, Smiling or the first attribute, or None when unlabelled."""
    if color_by != AUTO:
        return color_by
    if dataset.label_kind == "class":
        return CLASS
    if dataset.label_kind == "attributes" and dataset.label_names:
        names = list(dataset.label_names)
        return PREFERRED_ATTRIBUTE if PREFERRED_ATTRIBUTE in names else names[0]
    return None


def colour_values(dataset, indices: list[int], color_by: str | None):
    """The colour of each chosen item: ``class`` (class sets), a class name (one-vs-rest) or an
    attribute name (0/1); None gives no colours."""
    if color_by is None:
        return None, []
    if color_by == CLASS and dataset.label_kind == "class":
        _, names = binary_labels(dataset)
        return np.asarray(dataset.labels)[indices].astype(np.int64), names
    positives, names = binary_labels(dataset)
    valid = ([CLASS] if dataset.label_kind == "class" else []) + names
    check_attribute(color_by, valid, "--color-by")
    column = names.index(color_by)
    return positives[indices, column].astype(np.int64), [f"not {color_by}", color_by]


def tsne(
    run: RunLike,
    split: str = "test",
    n: int = 1000,
    *,
    color_by: str | None = AUTO,
    perplexity: float = 30.0,
    device: str = "cpu",
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = True,
) -> Embedding:
    """t-SNE of mu for ``n`` images of ``split`` (a seeded random choice).

    color_by: ``"class"`` (class-labelled sets), a class or attribute name, None, or ``"auto"``:
    classes, else Smiling (or the first attribute), else no colours on an unlabelled set.
    """
    check_split(split)
    run = open_run(run, device)
    dataset = run.dataset(split, progress=progress)
    indices = choose_indices(len(dataset), check_count(n), seed)
    color_by = resolve_color_by(dataset, color_by)
    values, names = colour_values(dataset, indices, color_by)
    codes = encode(run.model, stack_images(dataset, indices), batch_size).numpy()
    points = tsne_points(codes, perplexity=perplexity, seed=seed)
    return Embedding(points, values, names, color_by)
