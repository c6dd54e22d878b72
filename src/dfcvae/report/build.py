"""``build_report``: gather each run's results (reusing files already in ``results_dir``,
computing the missing ones), then write one self-contained HTML page.

results_dir layout (what the CLI commands write too, so a demo can precompute any of it):

    metrics.json                       ``dfcvae evaluate`` over all runs
    loss_curves.png, blur.png          page-wide figures (redrawn from logs and metrics.json)
    <run>/reconstruction.png           ``dfcvae reconstruct``
    <run>/samples.png                  ``dfcvae sample``
    <run>/interpolation.png            ``dfcvae interpolate``
    <run>/attribute_vectors.safetensors ``dfcvae attribute-vectors``
    <run>/edit.png                     ``dfcvae edit``
    <run>/tsne.png                     ``dfcvae tsne``
    <run>/attribute_correlation.png    ``dfcvae attribute-correlation``
    <run>/attribute_predictions.csv    ``dfcvae predict-attributes``

``<run>`` is the run directory's name (see ``dfcvae.analysis.runs.run_names``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from dfcvae.analysis.attributes import VECTORS_FILE, read_attribute_vectors
from dfcvae.analysis.evaluate import FEATURE_SPACES
from dfcvae.analysis.runs import Run, open_run, run_names
from dfcvae.data import DataError
from dfcvae.errors import ConfigError, DFCVAEError
from dfcvae.files import write_text
from dfcvae.io import read_config
from dfcvae.report import artifacts
from dfcvae.report.figures import blur_figure, loss_curves_figure, save_figure
from dfcvae.report.html import ReportData, render_report
from dfcvae.report.logs import read_loss_log
from dfcvae.report.tables import read_predictions_csv

METRICS_FILE = "metrics.json"
LOSS_CURVES_FILE = "loss_curves.png"
BLUR_FILE = "blur.png"
RUN_FILES = {
    "reconstruction": "reconstruction.png",
    "samples": "samples.png",
    "interpolation": "interpolation.png",
    "vectors": VECTORS_FILE,
    "edit": "edit.png",
    "tsne": "tsne.png",
    "correlation": "attribute_correlation.png",
    "predictions": "attribute_predictions.csv",
}
PREFERRED_EDIT = ("Smiling", "Eyeglasses")


def folder_name(name: str) -> str:
    """A run name as one folder name (``parent/run`` -> ``parent__run``)."""
    return name.replace("/", "__").replace("#", "_")


def pick_attribute(vectors: dict[str, torch.Tensor]) -> str:
    """The paper's example attributes when present, else the longest attribute vector."""
    for name in PREFERRED_EDIT:
        if name in vectors:
            return name
    return max(vectors, key=lambda name: float(vectors[name].norm()))


class Gatherer:
    """Finds or computes each result file of each run, recording why any is missing."""

    def __init__(self, data: ReportData, results_dir: Path, compute: bool, device: str):
        self.data = data
        self.results_dir = results_dir
        self.compute = compute
        self.device = device
        self._runs: dict[str, Run] = {}

    def run(self, name: str) -> Run:
        if name not in self._runs:
            index = self.data.names.index(name)
            self._runs[name] = open_run(self.data.run_dirs[index], self.device)
        return self._runs[name]

    def path(self, name: str, kind: str) -> Path:
        return self.results_dir / folder_name(name) / RUN_FILES[kind]

    def get(self, name: str, kind: str, make: Callable[[Path], Any]) -> Path | None:
        """The result file, made by ``make(path)`` if missing and allowed; None if unavailable."""
        path = self.path(name, kind)
        if path.is_file():
            return path
        if not self.compute:
            self.problem(name, kind, f"not computed ({path} is missing)")
            return None
        try:
            make(path)
        except (DFCVAEError, DataError) as error:
            self.problem(name, kind, str(error))
            return None
        return path

    def problem(self, name: str, kind: str, reason: str) -> None:
        self.data.problems.setdefault(name, {})[kind] = reason


@dataclass
class ReportOptions:
    """How much to compute for results that are missing (see ``build_report``)."""

    split: str = "test"
    n_eval: int = 500
    n_grid: int = 16
    n_tsne: int = 500
    perplexity: float = 30.0
    steps: int = 8
    rows: int = 4
    temperature: float = 1.0
    edit_attribute: str | None = None
    strengths: Sequence[float] = (-2.0, -1.0, 0.0, 1.0, 2.0)
    limit: int | None = None
    feature_spaces: Sequence[str] = FEATURE_SPACES
    classifier: str | Path | None = None
    device: str = "cpu"
    batch_size: int = 64
    seed: int = 0
    progress: bool = True

    @property
    def common(self) -> dict[str, Any]:
        return {"device": self.device, "batch_size": self.batch_size, "seed": self.seed}


def build_report(
    run_dirs: Sequence[str | Path],
    out_html: str | Path,
    results_dir: str | Path | None = None,
    *,
    compute_missing: bool = True,
    title: str = "DFC-VAE report",
    **options: Any,
) -> Path:
    """Write the HTML report comparing ``run_dirs`` side by side and return its path.

    results_dir: where result files are reused from and written to (default a folder
    ``<out_html stem>_files`` beside the page). compute_missing: compute results whose files are
    missing; when False, the page says which are missing. options: ``ReportOptions`` fields:
    split, n_eval (test images for the metrics), n_grid (images per reconstruction, sample and
    edit grid), n_tsne (t-SNE points), perplexity, steps and rows (interpolations),
    temperature, edit_attribute (default Smiling, else the longest attribute vector),
    strengths, limit (first images per split for attribute vectors and SVMs, default each
    run's own), feature_spaces, classifier, device, batch_size, seed, progress.
    The page embeds every image, so it opens offline as a single file.
    """
    try:
        opts = ReportOptions(**options)
    except TypeError:
        valid = ", ".join(f.name for f in fields(ReportOptions))
        message = f"build_report: unknown option(s) in {sorted(options)}; valid: {valid}"
        raise ConfigError(message) from None
    out_html = Path(out_html)
    results_dir = Path(results_dir) if results_dir else out_html.with_name(out_html.stem + "_files")
    paths = [Path(run_dir) for run_dir in run_dirs]
    names = run_names(paths)
    configs = {name: read_config(path) for name, path in zip(names, paths, strict=True)}
    data = ReportData(title=title, names=names, run_dirs=paths, configs=configs)
    data.settings = {"split": opts.split, "seed": opts.seed, "temperature": opts.temperature,
                     "strengths": ", ".join(f"{s:g}" for s in opts.strengths)}  # fmt: skip
    gather = Gatherer(data, results_dir, compute_missing, opts.device)

    data.metrics = gather_metrics(gather, results_dir / METRICS_FILE, opts)
    for name in tqdm(names, desc="report", disable=not opts.progress):
        gather_run(gather, name, opts)

    logs = {name: read_loss_log(path) for name, path in zip(names, paths, strict=True)}
    if any(logs.values()):
        figure = loss_curves_figure({name: log for name, log in logs.items() if log})
        data.figures["loss_curves"] = save_figure(figure, results_dir / LOSS_CURVES_FILE)
    else:
        gather.problem("", "loss_curves", "no run has a logs/metrics.csv")
    if data.metrics and "per_image" in data.metrics:
        figure = blur_figure(blur_series(data.metrics, names))
        data.figures["blur"] = save_figure(figure, results_dir / BLUR_FILE)
    return write_text(out_html, render_report(data))


def gather_run(gather: Gatherer, name: str, opts: ReportOptions) -> None:
    """Find or compute every result file of one run."""
    data, common = gather.data, opts.common
    big_batches = {**common, "batch_size": max(opts.batch_size, 256)}
    found = {
        "reconstruction": gather.get(name, "reconstruction", lambda p: (
            artifacts.write_reconstruction(gather.run(name), p, split=opts.split, n=opts.n_grid,
                                           progress=opts.progress, **common))),
        "samples": gather.get(name, "samples", lambda p: artifacts.write_samples(
            gather.run(name), p, n=opts.n_grid, temperature=opts.temperature, **common)),
        "interpolation": gather.get(name, "interpolation", lambda p: artifacts.write_interpolation(
            gather.run(name), p, steps=opts.steps, rows=opts.rows, split=opts.split,
            temperature=opts.temperature, **common)),
        "tsne": gather.get(name, "tsne", lambda p: artifacts.write_tsne(
            gather.run(name), p, split=opts.split, n=opts.n_tsne, perplexity=opts.perplexity,
            progress=opts.progress, **common)),
    }  # fmt: skip
    vectors_path = gather.get(name, "vectors", lambda p: artifacts.write_attribute_vectors(
        gather.run(name), p, limit=opts.limit, device=opts.device,
        batch_size=big_batches["batch_size"], progress=opts.progress))  # fmt: skip
    if vectors_path is not None:
        vectors = read_attribute_vectors(vectors_path)
        if opts.edit_attribute is None:  # the first run's choice holds for all, side by side
            opts.edit_attribute = pick_attribute(vectors)
        attribute = data.settings["edit_attribute"] = opts.edit_attribute
        found["edit"] = gather.get(name, "edit", lambda p: artifacts.write_edit(
            gather.run(name), p, attribute, strengths=opts.strengths, n=min(opts.n_grid, 8),
            vectors=vectors, split=opts.split, progress=opts.progress, **common))  # fmt: skip
        found["correlation"] = gather.get(
            name,
            "correlation",
            lambda p: artifacts.write_correlation(vectors, p, title=f"{name}: attribute vectors"),
        )
    else:
        reason = data.problems.get(name, {}).get("vectors", "no attribute vectors")
        gather.problem(name, "edit", reason)
        gather.problem(name, "correlation", reason)
    predictions = gather.get(
        name,
        "predictions",
        lambda p: artifacts.write_predictions(
            gather.run(name), p, limit=opts.limit, progress=opts.progress, **big_batches
        ),
    )
    if predictions is not None:
        data.predictions[name] = read_predictions_csv(predictions)
    data.images[name] = {kind: path for kind, path in found.items() if path is not None}


def gather_metrics(gather: Gatherer, path: Path, opts: ReportOptions) -> dict[str, Any] | None:
    """metrics.json when it covers every run, else ``evaluate`` over all runs (if allowed)."""
    names = gather.data.names
    if path.is_file():
        try:
            metrics = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            warnings.warn(f"{path}: not valid JSON ({error}); computing it again", stacklevel=2)
        else:
            if set(names) <= set(metrics.get("runs", {})):
                return metrics
    if not gather.compute:
        gather.problem("", "metrics", f"not computed ({path} is missing or lacks some runs)")
        return None
    runs = [gather.run(name) for name in names]
    try:
        return artifacts.write_metrics(
            runs, path, split=opts.split, n=opts.n_eval, temperature=opts.temperature,
            feature_spaces=opts.feature_spaces, classifier=opts.classifier,
            progress=opts.progress, **opts.common,
        )  # fmt: skip
    except (DFCVAEError, DataError) as error:
        gather.problem("", "metrics", str(error))
        return None


def blur_series(metrics: dict[str, Any], names: list[str]) -> dict[str, list[float]]:
    """Per-image Laplacian variances of the originals, then each run's reconstructions and
    samples, from ``evaluate``'s per-image values."""
    per_image = metrics["per_image"]
    series = {"originals": per_image["originals"]["blur"]}
    for name in names:
        if name in per_image:
            series[f"{name}\nreconstructions"] = per_image[name]["blur_reconstructions"]
            series[f"{name}\nsamples"] = per_image[name]["blur_samples"]
    return series
