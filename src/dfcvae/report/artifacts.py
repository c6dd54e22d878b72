"""Compute one result and write it as a file: the shared step of the CLI and the report.

Each ``write_*`` function calls one analysis function and one writer (a PNG grid, a figure, a
CSV, a JSON or a safetensors file), and returns what it computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from dfcvae.analysis import (
    AttributePrediction,
    Embedding,
    Reconstruction,
    attribute_correlation,
    attribute_vectors,
    edit,
    evaluate,
    interpolate,
    predict_attributes,
    reconstruct,
    sample,
    save_attribute_vectors,
    tsne,
)
from dfcvae.analysis.runs import RunLike, open_run
from dfcvae.files import write_json
from dfcvae.report.figures import correlation_figure, save_figure, tsne_figure
from dfcvae.report.images import image_grid, paired_rows_grid, rows_grid, save_grid
from dfcvae.report.tables import write_matrix_csv, write_predictions_csv


def write_reconstruction(run: RunLike, path: str | Path, *, nrow: int = 8, **options: Any
                         ) -> Reconstruction:  # fmt: skip
    """Inputs with their reconstructions under them; options go to ``reconstruct``."""
    result = reconstruct(run, **options)
    save_grid(paired_rows_grid(result.inputs, result.reconstructions, nrow), path)
    return result


def write_samples(run: RunLike, path: str | Path, *, nrow: int = 8, **options: Any) -> torch.Tensor:
    images = sample(run, **options)
    save_grid(image_grid(images, nrow), path)
    return images


def write_interpolation(run: RunLike, path: str | Path, **options: Any) -> torch.Tensor:
    """One row per endpoint pair, ``steps`` images from left to right."""
    images = interpolate(run, **options)
    save_grid(rows_grid(images), path)
    return images


def write_attribute_vectors(
    run: RunLike, path: str | Path, **options: Any
) -> dict[str, torch.Tensor]:
    run = open_run(run, options.pop("device", "cpu"))
    vectors = attribute_vectors(run, **options)
    metadata = {"run": str(run.run_dir), "split": options.get("split", "train"), "code": "mu"}
    save_attribute_vectors(path, vectors, metadata)
    return vectors


def write_edit(run: RunLike, path: str | Path, attribute: str, **options: Any) -> torch.Tensor:
    """One row per image: the input, then the edit at each strength."""
    images = edit(run, attribute, **options)
    save_grid(rows_grid(images), path)
    return images


def write_tsne(run: RunLike, path: str | Path, **options: Any) -> Embedding:
    embedding = tsne(run, **options)
    title = "t-SNE of latent codes" + (f" by {embedding.color_by}" if embedding.color_by else "")
    figure = tsne_figure(embedding.points, embedding.values, embedding.value_names, title)
    save_figure(figure, path)
    return embedding


def write_correlation(
    vectors: Mapping[str, torch.Tensor], path: str | Path, title: str = ""
) -> tuple[list[str], Any]:
    """The heat map at ``path`` (PNG) and the matrix beside it (same name, ``.csv``)."""
    names, matrix = attribute_correlation(vectors)
    save_figure(correlation_figure(names, matrix, title), path)
    write_matrix_csv(Path(path).with_suffix(".csv"), names, matrix)
    return names, matrix


def write_predictions(run: RunLike, path: str | Path, **options: Any) -> AttributePrediction:
    result = predict_attributes(run, **options)
    write_predictions_csv(path, result)
    return result


def write_metrics(run_dirs: Sequence[RunLike], path: str | Path, **options: Any) -> dict:
    metrics = evaluate(run_dirs, **options)
    write_json(path, metrics)
    return metrics
