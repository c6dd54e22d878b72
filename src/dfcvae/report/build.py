"""``build_report``: one self-contained HTML page from the results of
``dfcvae.analysis.pipeline.analyse``. A pure rendering: it draws the results it is given (grids,
figures, tables), writes them beside the page (``report.exports``) and lays everything out. It
never computes an analysis, and never looks at files on disk to decide what is done.

    from dfcvae.analysis.pipeline import AnalysisSettings, analyse
    from dfcvae.report import build_report, store_dir

    results = analyse(runs, AnalysisSettings(n_eval=200), store=store_dir("report_files"))
    build_report(results, "report.html", "report_files")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dfcvae.analysis.pipeline import AnalysisResults
from dfcvae.files import write_text
from dfcvae.report.exports import METRICS_FILE, STORE_DIR, write_metrics, write_run_files
from dfcvae.report.figures import loss_curves_figure, save_figure, sharpness_figure
from dfcvae.report.html import ReportData, render_report

LOSS_CURVES_FILE = "loss_curves.png"
SHARPNESS_FILE = "sharpness.png"


def default_results_dir(out_html: str | Path) -> Path:
    """``<out_html stem>_files`` beside the page."""
    out_html = Path(out_html)
    return out_html.with_name(out_html.stem + "_files")


def store_dir(results_dir: str | Path) -> Path:
    """Where ``analyse`` keeps the results store inside a report's results folder."""
    return Path(results_dir) / STORE_DIR


def build_report(
    results: AnalysisResults,
    out_html: str | Path,
    results_dir: str | Path | None = None,
    *,
    title: str = "DFC-VAE report",
) -> Path:
    """Write the HTML page comparing the runs of ``results`` side by side; return its path.

    results_dir: where the page's images, figures and tables are written (default
    ``default_results_dir(out_html)``). A result that ``results`` lacks is named on the page
    with the reason. The page embeds every image, so it opens offline as a single file.
    """
    results_dir = Path(results_dir) if results_dir else default_results_dir(out_html)
    data = ReportData(
        title=title,
        names=results.names,
        run_dirs=results.run_dirs,
        configs=results.configs,
        metrics=results.metrics,
        logs=results.logs,
        problems={"": dict(results.problems)},
    )
    data.settings = page_settings(results)
    if results.metrics is not None:
        write_metrics(results_dir, results.metrics)
    else:
        (results_dir / METRICS_FILE).unlink(missing_ok=True)
    for name, run_dir in zip(results.names, results.run_dirs, strict=True):
        run = results.runs[name]
        title_of_run = f"{name}: attribute vectors"
        data.images[name] = write_run_files(results_dir, name, run_dir, run, title_of_run)
        data.problems[name] = dict(run.problems)
        if run.predictions is not None:
            data.predictions[name] = run.predictions
    draw_figures(data, results_dir)
    return write_text(out_html, render_report(data))


def page_settings(results: AnalysisResults) -> dict[str, Any]:
    """The settings named under the page's title."""
    s = results.settings
    settings = {
        "split": s.split,
        "seed": s.seed,
        "temperature": s.temperature,
        "strengths": ", ".join(f"{v:g}" for v in s.strengths),
    }
    if results.edit_attribute is not None and any(
        run.vectors is not None for run in results.runs.values()
    ):
        settings["edit_attribute"] = results.edit_attribute
    return settings


def draw_figures(data: ReportData, results_dir: Path) -> None:
    """The loss curves of every run's log and the per-image sharpness distributions."""
    logs = data.logs
    if any(logs.values()):
        figure = loss_curves_figure({name: log for name, log in logs.items() if log})
        data.figures["loss_curves"] = save_figure(figure, results_dir / LOSS_CURVES_FILE)
    else:
        data.problems[""]["loss_curves"] = "no run has a logs/metrics.csv"
    if data.metrics and "per_image" in data.metrics:
        figure = sharpness_figure(sharpness_series(data.metrics, data.names))
        data.figures["sharpness"] = save_figure(figure, results_dir / SHARPNESS_FILE)


def sharpness_series(metrics: dict[str, Any], names: list[str]) -> dict[str, list[float]]:
    """Per-image Laplacian variances of the originals, then each run's reconstructions and
    samples, from ``evaluate``'s per-image values."""
    per_image = metrics["per_image"]
    series = {"originals": per_image["originals"]["sharpness"]}
    for name in names:
        if name in per_image:
            series[f"{name}\nreconstructions"] = per_image[name]["sharpness_reconstructions"]
            series[f"{name}\nsamples"] = per_image[name]["sharpness_samples"]
    return series
