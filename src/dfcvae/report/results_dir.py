"""The report's results folder: where each result file lies, reading the files of an earlier
report back (so that nothing is computed twice), and writing the results just computed.

Layout (what the CLI commands write too, so a demo can precompute any of it):

    metrics.json                        ``dfcvae evaluate`` over all runs
    loss_curves.png, sharpness.png      page-wide figures (redrawn from logs and metrics.json)
    <run>/reconstruction.png            ``dfcvae reconstruct``
    <run>/samples.png                   ``dfcvae sample --sampler standard``
    <run>/samples_fitted.png            ``dfcvae sample --sampler fitted``
    <run>/interpolation.png             ``dfcvae interpolate``
    <run>/attribute_vectors.safetensors ``dfcvae attribute-vectors``
    <run>/edit.png                      ``dfcvae edit``
    <run>/tsne.png                      ``dfcvae tsne``
    <run>/attribute_correlation.png     ``dfcvae attribute-correlation``
    <run>/attribute_predictions.csv     ``dfcvae predict-attributes``

``<run>`` is the run directory's name (see ``dfcvae.analysis.runs.run_names``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path

from dfcvae.analysis.attributes import VECTORS_FILE, read_attribute_vectors
from dfcvae.analysis.metrics_file import read_metrics
from dfcvae.analysis.pipeline import Known, RunResults
from dfcvae.analysis.runs import run_names
from dfcvae.files import write_json
from dfcvae.report import artifacts
from dfcvae.report.tables import read_predictions_csv, write_predictions_csv

METRICS_FILE = "metrics.json"
RUN_FILES = {
    "reconstruction": "reconstruction.png",
    "samples": "samples.png",
    "samples_fitted": "samples_fitted.png",
    "interpolation": "interpolation.png",
    "tsne": "tsne.png",
    "vectors": VECTORS_FILE,
    "edit": "edit.png",
    "correlation": "attribute_correlation.png",
    "predictions": "attribute_predictions.csv",
}


def folder_name(name: str) -> str:
    """A run name as one folder name (``parent/run`` -> ``parent__run``)."""
    return name.replace("/", "__").replace("#", "_")


def run_file(results_dir: Path, name: str, kind: str) -> Path:
    return results_dir / folder_name(name) / RUN_FILES[kind]


def read_results(results_dir: str | Path, run_dirs: Sequence[str | Path]) -> Known:
    """The results that ``results_dir`` already holds for ``run_dirs``, for ``analyse``. A
    metrics.json that is not JSON is ignored with a warning (and computed again)."""
    results_dir = Path(results_dir)
    names = run_names(run_dirs)
    known = Known()
    path = results_dir / METRICS_FILE
    if path.is_file():
        try:
            known.metrics = read_metrics(path)
        except json.JSONDecodeError as error:
            warnings.warn(f"{path}: not valid JSON ({error}); computing it again", stacklevel=2)
    for name in names:
        known.done[name] = {k for k in RUN_FILES if run_file(results_dir, name, k).is_file()}
        if "vectors" in known.done[name]:
            known.vectors[name] = read_attribute_vectors(run_file(results_dir, name, "vectors"))
        if "predictions" in known.done[name]:
            rows = read_predictions_csv(run_file(results_dir, name, "predictions"))
            known.predictions[name] = rows
    return known


def write_metrics(results_dir: Path, metrics: dict) -> Path:
    return write_json(results_dir / METRICS_FILE, metrics)


def write_run_results(
    results_dir: Path, name: str, run_dir: Path, results: RunResults, title: str
) -> None:
    """Write each result of one run computed by this ``analyse`` call (``results.fresh``)."""
    path = {kind: run_file(results_dir, name, kind) for kind in results.fresh}
    if "reconstruction" in path:
        artifacts.write_reconstruction(results.reconstruction, path["reconstruction"])
    if "samples" in path:
        artifacts.write_samples(results.samples, path["samples"])
    if "samples_fitted" in path:
        artifacts.write_samples(results.samples_fitted, path["samples_fitted"])
    if "interpolation" in path:
        artifacts.write_rows(results.interpolation, path["interpolation"])
    if "tsne" in path:
        artifacts.write_tsne(results.tsne, path["tsne"])
    if "vectors" in path:
        artifacts.write_attribute_vectors(results.vectors, path["vectors"], run_dir, "train")
    if "edit" in path:
        artifacts.write_rows(results.edit, path["edit"])
    if "correlation" in path:
        names, matrix = results.correlation
        artifacts.write_correlation(names, matrix, path["correlation"], title)
    if "predictions" in path:
        write_predictions_csv(path["predictions"], results.predictions)
