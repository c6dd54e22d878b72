"""Write one computed result as a file: the shared last step of the CLI commands and the report.

Each ``write_*`` function takes what an analysis function returned and writes it with one
writer (a PNG grid, a figure, a CSV or a safetensors file); none of them computes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from dfcvae.analysis import Embedding, Reconstruction, save_attribute_vectors
from dfcvae.analysis.run_vectors import vectors_metadata
from dfcvae.report.figures import correlation_figure, save_figure, tsne_figure
from dfcvae.report.images import image_grid, paired_rows_grid, rows_grid, save_grid
from dfcvae.report.tables import write_matrix_csv


def write_reconstruction(result: Reconstruction, path: str | Path, nrow: int = 8) -> Path:
    """Inputs with their reconstructions under them."""
    return save_grid(paired_rows_grid(result.inputs, result.reconstructions, nrow), path)


def write_samples(images: torch.Tensor, path: str | Path, nrow: int = 8) -> Path:
    """images: (N, C, H, W) in [0, 1], ``nrow`` per row."""
    return save_grid(image_grid(images, nrow), path)


def write_rows(images: torch.Tensor, path: str | Path) -> Path:
    """(R, S, C, H, W), one row of S images per R: interpolations (from left to right) and
    edits (the input, then the edit at each strength)."""
    return save_grid(rows_grid(images), path)


def write_attribute_vectors(
    vectors: Mapping[str, torch.Tensor],
    path: str | Path,
    run_dir: str | Path,
    split: str,
    fingerprint: str | None = None,
) -> Path:
    """The vectors with where they come from (the run, the split, the code: mu, and the
    fingerprint of the model they were computed from: ``vectors_metadata``)."""
    return save_attribute_vectors(path, vectors, vectors_metadata(run_dir, split, fingerprint))


def write_tsne(embedding: Embedding, path: str | Path) -> Path:
    title = "t-SNE of latent codes" + (f" by {embedding.color_by}" if embedding.color_by else "")
    figure = tsne_figure(embedding.points, embedding.values, embedding.value_names, title)
    return save_figure(figure, path)


def write_correlation(
    names: Sequence[str], matrix: np.ndarray, path: str | Path, title: str = ""
) -> Path:
    """The heat map at ``path`` (PNG) and the matrix beside it (same name, ``.csv``)."""
    save_figure(correlation_figure(names, matrix, title), path)
    write_matrix_csv(Path(path).with_suffix(".csv"), names, matrix)
    return Path(path)
