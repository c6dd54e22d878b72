"""The files a report writes beside its page, drawn from the results ``analyse`` returned: the
grids and figures it embeds, and the numbers as CSV and JSON for other tools. They are outputs
only: nothing reads them back to decide what to compute (``analysis.store`` does that).

Layout of the results folder:

    results/                            the results store (``analysis.store``), by key
    metrics.json                        ``evaluate``'s result over all runs
    loss_curves.png, sharpness.png      page-wide figures
    <run>/reconstruction.png            as ``dfcvae reconstruct`` writes it
    <run>/samples.png                   ``dfcvae sample --sampler standard``
    <run>/samples_fitted.png            ``dfcvae sample --sampler fitted``
    <run>/interpolation.png             ``dfcvae interpolate``
    <run>/attribute_vectors.safetensors ``dfcvae attribute-vectors``
    <run>/edit.png                      ``dfcvae edit``
    <run>/tsne.png                      ``dfcvae tsne``
    <run>/attribute_correlation.png     ``dfcvae attribute-correlation`` (and its .csv)
    <run>/attribute_predictions.csv     ``dfcvae predict-attributes``

``<run>`` is the run directory's name (see ``dfcvae.analysis.runs.run_names``).
"""

from __future__ import annotations

from pathlib import Path

from dfcvae.analysis.attributes import VECTORS_FILE
from dfcvae.analysis.pipeline import RunResults
from dfcvae.files import write_json
from dfcvae.report import artifacts
from dfcvae.report.tables import write_predictions_csv

STORE_DIR = "results"
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


def write_metrics(results_dir: Path, metrics: dict) -> Path:
    return write_json(results_dir / METRICS_FILE, metrics)


def write_run_files(
    results_dir: Path, name: str, run_dir: Path, results: RunResults, title: str
) -> dict[str, Path]:
    """Write each result the run has (and remove the file of each it lacks, so no earlier
    report's file stays beside this one); return kind -> path of the files written."""
    paths = {kind: run_file(results_dir, name, kind) for kind in RUN_FILES}
    written = {}
    for kind, path in paths.items():
        value = getattr(results, kind)
        if value is None:
            path.unlink(missing_ok=True)
            continue
        if kind == "reconstruction":
            artifacts.write_reconstruction(value, path)
        elif kind in ("samples", "samples_fitted"):
            artifacts.write_samples(value, path)
        elif kind in ("interpolation", "edit"):
            artifacts.write_rows(value, path)
        elif kind == "tsne":
            artifacts.write_tsne(value, path)
        elif kind == "vectors":
            artifacts.write_attribute_vectors(value, path, run_dir, "train", results.fingerprint)
        elif kind == "correlation":
            names, matrix = value
            artifacts.write_correlation(names, matrix, path, title)
        elif kind == "predictions":
            write_predictions_csv(path, value)
        written[kind] = path
    return written
