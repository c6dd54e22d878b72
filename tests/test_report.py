"""The HTML report: self-contained, reuses precomputed results, renders in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dfcvae.analysis.pipeline import AnalysisSettings, analyse
from dfcvae.cli import main
from dfcvae.report import build_report, default_results_dir, read_results

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars",
]  # fmt: skip
SMALL = AnalysisSettings(n_eval=16, n_grid=8, n_tsne=30, perplexity=5, steps=4, rows=2,
                         limit=200, batch_size=32, progress=False)  # fmt: skip


def report_of(run_dirs, out: Path, results_dir: Path | None = None, compute: bool = True,
              settings: AnalysisSettings = SMALL) -> Path:  # fmt: skip
    """The report command's steps: read earlier results, compute the rest, render."""
    results_dir = results_dir or default_results_dir(out)
    known = read_results(results_dir, run_dirs)
    return build_report(analyse(run_dirs, settings, known=known, compute=compute), out, results_dir)


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


def test_report_reuses_precomputed_results_and_names_the_missing_ones(report, tiny_run, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(report.with_name("report_files"), results)
    run = results / Path(tiny_run).name
    marker = io.BytesIO()
    Image.new("RGB", (7, 5), (255, 0, 0)).save(marker, format="png")
    (run / "samples.png").write_bytes(marker.getvalue())
    (run / "tsne.png").unlink()
    html = report_of([tiny_run], tmp_path / "again.html", results, compute=False).read_text()
    assert base64.b64encode(marker.getvalue()).decode() in html
    assert "not computed" in html and "tsne.png is missing" in html


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


def test_a_report_reads_an_earlier_metrics_file_with_blur_names(report, tiny_run, tmp_path):
    """metrics.json written before blur_* became sharpness_* still renders, upgraded."""
    results = tmp_path / "results"
    shutil.copytree(report.with_name("report_files"), results)
    text = json.dumps(without_samplers(json.loads((results / "metrics.json").read_text())))
    old = text.replace('"sharpness_reconstructions"', '"blur_reconstructions"')
    old = old.replace('"sharpness_samples"', '"blur_samples"').replace('"sharpness"', '"blur"')
    assert '"sharpness' not in old
    (results / "metrics.json").write_text(old)
    known = read_results(results, [tiny_run])
    assert known.metrics == json.loads(text)
    html = report_of([tiny_run], tmp_path / "old.html", results, compute=False).read_text()
    name = Path(tiny_run).name
    sharpness = known.metrics["runs"][name]["sharpness_reconstructions"]["mean"]
    assert f"{sharpness:.4g}" in html and "Sharpness per image" in html
    assert "not computed (" not in html.split("<h2>Reconstructions</h2>")[0]


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


def test_analyse_takes_known_results_and_computes_only_the_rest(report, tiny_run, monkeypatch):
    import dfcvae.analysis.pipeline as pipeline

    known = read_results(report.with_name("report_files"), [tiny_run])
    name = Path(tiny_run).name
    assert known.done[name] >= {"reconstruction", "samples", "vectors", "predictions"}
    known.done[name].discard("samples")
    opened = []
    monkeypatch.setattr(pipeline, "open_run", lambda *a: opened.append(a) or "a run")
    monkeypatch.setattr(pipeline, "sample", lambda run, n, *a, **k: torch.zeros(n, 1, 8, 8))
    results = analyse([tiny_run], SMALL, known=known)
    assert results.runs[name].fresh == {"samples"} and len(opened) == 1
    assert results.metrics is known.metrics and not results.metrics_fresh
    assert results.runs[name].predictions == known.predictions[name]


def test_the_demo_summary_takes_evaluates_result_and_the_svm_rows(report, tiny_run):
    from dfcvae.demo_summary import format_summary, summarise

    known = read_results(report.with_name("report_files"), [tiny_run])
    name = Path(tiny_run).name
    summary = summarise(known.metrics, known.predictions, report, 12.3)
    model = summary["models"][name]
    run = known.metrics["runs"][name]
    assert model["sharpness_reconstructions"] == run["sharpness_reconstructions"]["mean"]
    assert model["sharpness_samples"] == run["sharpness_samples"]["mean"]
    assert summary["originals_sharpness"] == known.metrics["originals"]["sharpness"]["mean"]
    rows = {row["kind"]: row for row in known.predictions[name]}
    assert model["class_accuracy"] == rows["multiclass"]["accuracy"]
    assert model["one_vs_rest_mean"] == rows["mean"]["accuracy"]
    assert f"recon {model['sharpness_reconstructions']:.4f}" in format_summary(summary)
