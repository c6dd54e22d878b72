"""The HTML report: self-contained, reuses precomputed results, renders in headless Chromium."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dfcvae.analysis.metrics_file import read_metrics
from dfcvae.analysis.pipeline import AnalysisSettings, analyse
from dfcvae.cli import main
from dfcvae.report import build_report, default_results_dir, store_dir

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars",
]  # fmt: skip
SMALL = AnalysisSettings(n_eval=16, n_grid=8, n_tsne=30, perplexity=5, steps=4, rows=2,
                         limit=200, batch_size=32, progress=False)  # fmt: skip


def report_of(
    run_dirs,
    out: Path,
    results_dir: Path | None = None,
    compute: bool = True,
    settings: AnalysisSettings = SMALL,
) -> Path:
    """The report command's steps: analyse (reusing the store's results), render."""
    results_dir = results_dir or default_results_dir(out)
    results = analyse(run_dirs, settings, store=store_dir(results_dir), compute=compute)
    return build_report(results, out, results_dir)


@pytest.fixture(scope="module")
def report(tiny_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    return report_of([tiny_run], out)


def test_report_embeds_every_image_and_writes_its_results_beside_it(report, tiny_run):
    html = report.read_text()
    sources = re.findall(r'<img[^>]* src="([^"]*)"', html)
    assert len(sources) == 9  # 7 per-run images, loss curves, sharpness
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert "http://" not in html and "https://" not in html  # opens offline
    results = report.with_name("report_files")
    run = results / Path(tiny_run).name
    for name in ("reconstruction.png", "samples.png", "samples_fitted.png", "interpolation.png",
                 "edit.png", "tsne.png", "attribute_correlation.png",
                 "attribute_predictions.csv"):  # fmt: skip
        assert (run / name).is_file(), name
    assert (results / "metrics.json").is_file() and (results / "loss_curves.png").is_file()
    for text in ("At a glance", "t-tests", "Attribute prediction", "majority baseline",
                 "fitted: Fréchet distance", "standard: precision",
                 "Unavailable metrics", "config.json", "Trouser"):  # fmt: skip
        assert text in html, text


def test_a_png_on_disk_is_never_taken_for_a_result(report, tiny_run, tmp_path):
    """--no-compute shows what the store holds for these settings: a file left in the results
    folder is overwritten, and a changed setting names its results as not computed."""
    results = tmp_path / "results"
    shutil.copytree(report.with_name("report_files"), results)
    run = results / Path(tiny_run).name
    marker = io.BytesIO()
    Image.new("RGB", (7, 5), (255, 0, 0)).save(marker, format="png")
    (run / "reconstruction.png").write_bytes(marker.getvalue())
    (run / "samples.png").write_bytes(marker.getvalue())
    (run / "tsne.png").unlink()
    warmer = dataclasses.replace(SMALL, temperature=0.5)
    html = report_of([tiny_run], tmp_path / "again.html", results, False, warmer).read_text()
    assert base64.b64encode(marker.getvalue()).decode() not in html
    first = report.with_name("report_files") / Path(tiny_run).name
    assert (run / "reconstruction.png").read_bytes() == (first / "reconstruction.png").read_bytes()
    assert (run / "tsne.png").read_bytes() == (first / "tsne.png").read_bytes()  # from the store
    assert not (run / "samples.png").exists()  # no stored samples at T = 0.5: no stale file
    samples = html.split("<h2>Samples</h2>")[1].split("<h2>")[0]
    assert "no stored result for these runs and settings" in samples
    assert "No metrics: not computed: no stored result" in html


def test_unknown_report_options_are_one_clear_line(tiny_run, tmp_path, capsys):
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_images'"):
        AnalysisSettings(n_images=3)
    with pytest.raises(SystemExit):
        main(["report", str(tiny_run), "-o", str(tmp_path / "r.html"), "--n-images", "3"])
    err = capsys.readouterr().err
    assert "unrecognized arguments: --n-images 3" in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def without_samplers(metrics: dict) -> dict:
    """A metrics.json as written before samples were scored per sampler."""
    for section in ("runs", "per_image"):
        for entry in metrics[section].values():
            for key in [k for k in entry if k == "samplers" or k.startswith("sharpness_samples_")]:
                del entry[key]
    metrics["t_tests"] = [t for t in metrics["t_tests"] if "_samples_" not in t["metric"]]
    metrics["metrics"] = {k: v for k, v in metrics["metrics"].items() if "_samples_" not in k}
    return metrics


def test_an_earlier_metrics_file_with_blur_names_reads_upgraded(report, tmp_path):
    """metrics.json written before blur_* became sharpness_* (and before samples were scored
    per sampler) reads with today's names."""
    metrics = json.loads((report.with_name("report_files") / "metrics.json").read_text())
    text = json.dumps(without_samplers(metrics))
    old = text.replace('"sharpness_reconstructions"', '"blur_reconstructions"')
    old = old.replace('"sharpness_samples"', '"blur_samples"').replace('"sharpness"', '"blur"')
    assert '"sharpness' not in old
    (tmp_path / "metrics.json").write_text(old)
    assert read_metrics(tmp_path / "metrics.json") == json.loads(text)


@pytest.mark.skipif(CHROMIUM is None, reason="needs the Debian package chromium (headless)")
def test_report_renders_in_headless_chromium_with_every_image_loaded(report, tmp_path):
    def chromium(*args: str) -> subprocess.CompletedProcess:
        profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
        command = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                   "--virtual-time-budget=10000", *args, report.as_uri()]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    shot = tmp_path / "shot.png"
    chromium("--window-size=1280,2400", f"--screenshot={shot}")
    assert shot.is_file(), "chromium wrote no screenshot"
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.std() > 20  # not a blank page

    dom = chromium("--dump-dom").stdout
    images = len(re.findall(r"<img\b", report.read_text()))
    assert f'data-images="{images}"' in dom
    assert 'data-broken-images="0"' in dom


def test_the_demo_summary_takes_evaluates_result_and_the_svm_rows(report, tiny_run):
    from dfcvae.demo_summary import format_summary, summarise

    results = analyse([tiny_run], SMALL, store=store_dir(report.with_name("report_files")))
    assert not results.metrics_fresh and not any(run.fresh for run in results.runs.values())
    name = Path(tiny_run).name
    metrics, predictions = results.metrics, {name: results.runs[name].predictions}
    summary = summarise(metrics, predictions, report, 12.3)
    model = summary["models"][name]
    run = metrics["runs"][name]
    assert model["sharpness_reconstructions"] == run["sharpness_reconstructions"]["mean"]
    assert model["sharpness_samples"] == run["sharpness_samples"]["mean"]
    assert summary["originals_sharpness"] == metrics["originals"]["sharpness"]["mean"]
    rows = {row["kind"]: row for row in predictions[name]}
    assert model["class_accuracy"] == rows["multiclass"]["accuracy"]
    assert model["one_vs_rest_mean"] == rows["mean"]["accuracy"]
    assert f"recon {model['sharpness_reconstructions']:.4f}" in format_summary(summary)
