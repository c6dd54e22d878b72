"""`dfcvae demo --quick` end to end on real Fashion-MNIST: the report, the numbers, resuming."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dfcvae.cli import main
from tests.conftest import needs_fashion_mnist

pytestmark = needs_fashion_mnist


def demo(out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DFCVAE_OFFLINE": "1"}
    command = [sys.executable, "-m", "dfcvae", "demo", "--quick", "--quiet", "--out", str(out)]
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=900)


@pytest.mark.slow
def test_quick_demo_writes_report_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    first = demo(out)
    assert first.returncode == 0, first.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["models"]) == {"pvae", "dfc-mobilenet", "dfc-classifier"}
    for name, model in summary["models"].items():
        assert model["blur_reconstructions"] > 0 and model["mse"] > 0
        assert 0 <= model["majority_baseline"] < model["class_accuracy"] <= 1, name
        assert model["frechet_samples"]["mobilenet_v2"] > 0
        if name != "pvae":
            assert model["blur_vs_pvae"]["p"] is not None
    html = (out / "report.html").read_text()
    assert "dfc-mobilenet" in html and html.count("data:image/png;base64,") >= 10
    assert "Laplacian" in first.stdout and str(out / "report.html") in first.stdout

    # Interrupted or not, a second run reuses every finished stage.
    (out / "summary.json").unlink()
    started = time.perf_counter()
    again = demo(out)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((out / "summary.json").read_text())["models"] == summary["models"]
    assert time.perf_counter() - started < 120  # no training, no analysis: only reading back


def test_demo_refuses_a_foreign_folder_without_force(tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--force" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_demo_with_missing_data_fails_before_any_work(tmp_path: Path, capsys, monkeypatch) -> None:
    import dataclasses

    import dfcvae.data.digits as digits

    absent = dataclasses.replace(digits.FASHION_MNIST, system_dir=tmp_path / "absent")
    monkeypatch.setitem(digits.DIGITS, "fashion-mnist", absent)
    monkeypatch.setenv("DFCVAE_OFFLINE", "1")
    monkeypatch.setenv("DFCVAE_CACHE", str(tmp_path / "cache"))
    assert main(["demo", "--quick", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "dataset-fashion-mnist" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "classifier").exists()
