"""The HTML report: self-contained, reuses precomputed results, renders in headless Chromium."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dfcvae.errors import ConfigError
from dfcvae.report import build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars",
]  # fmt: skip
SMALL = dict(n_eval=16, n_grid=8, n_tsne=30, perplexity=5, steps=4, rows=2, limit=200,
             batch_size=32, progress=False)  # fmt: skip


@pytest.fixture(scope="module")
def report(tiny_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    return build_report([tiny_run], out, **SMALL)


def test_report_embeds_every_image_and_writes_its_results_beside_it(report, tiny_run):
    html = report.read_text()
    sources = re.findall(r'<img[^>]* src="([^"]*)"', html)
    assert len(sources) == 8  # 6 per-run images, loss curves, blur
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert "http://" not in html and "https://" not in html  # opens offline
    results = report.with_name("report_files")
    run = results / Path(tiny_run).name
    for name in ("reconstruction.png", "samples.png", "interpolation.png", "edit.png", "tsne.png",
                 "attribute_correlation.png", "attribute_predictions.csv"):  # fmt: skip
        assert (run / name).is_file(), name
    assert (results / "metrics.json").is_file() and (results / "loss_curves.png").is_file()
    for text in ("At a glance", "t-tests", "Attribute prediction", "majority baseline",
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
    html = build_report([tiny_run], tmp_path / "again.html", results, compute_missing=False,
                        progress=False).read_text()  # fmt: skip
    assert base64.b64encode(marker.getvalue()).decode() in html
    assert "not computed" in html and "tsne.png is missing" in html


def test_unknown_report_options_are_one_clear_line(tiny_run, tmp_path):
    with pytest.raises(ConfigError, match="unknown option"):
        build_report([tiny_run], tmp_path / "r.html", n_images=3)


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
