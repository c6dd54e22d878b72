"""`dfcvae demo --quick` end to end on real Fashion-MNIST: the report, the numbers, resuming."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dfcvae.cli import main
from tests.conftest import needs_fashion_mnist

pytestmark = needs_fashion_mnist


DEMO = [sys.executable, "-m", "dfcvae", "demo", "--quick", "--quiet"]
ENV = {**os.environ, "DFCVAE_OFFLINE": "1", "PYTHONFAULTHANDLER": "1"}


def demo(out: Path, *args: str) -> subprocess.CompletedProcess:
    command = [*DEMO, "--out", str(out), *args]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=900)


def interrupt_demo_mid_training(out: Path) -> tuple[int, str]:
    """Start the demo and press Ctrl-C (SIGINT) as soon as the PVAE wrote its first checkpoint:
    the classifier stage has finished, the PVAE has not. SIGINT is restored to its default in
    the child, because shells that run jobs in the background hand their children SIGINT
    ignored."""
    process = subprocess.Popen(
        [*DEMO, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=ENV, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    checkpoint = out / "runs" / "pvae" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 600
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        tree = subprocess.run(
            ["ps", "-o", "pid,ppid,stat,wchan:24,args", "--pid", str(process.pid),
             "--ppid", str(process.pid)], capture_output=True, text=True,
        ).stdout  # fmt: skip
        process.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
        _, stderr = process.communicate(timeout=60)
        pytest.fail(f"the demo did not exit within 120 s of Ctrl-C:\n{tree}\n{stderr[-8000:]}")
    return process.returncode, stderr


@pytest.mark.slow
def test_quick_demo_interrupted_resumes_and_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    code, stderr = interrupt_demo_mid_training(out)
    assert code == 130, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == (
        "dfcvae demo: interrupted; run the same command again to resume: finished stages are kept"
    )
    assert "Traceback" not in stderr
    classifier = out / "classifier" / "metrics.json"
    trained_at = classifier.stat().st_mtime_ns
    assert (out / "runs" / "pvae" / "checkpoints" / "last.ckpt").is_file()
    assert not (out / "runs" / "pvae" / "model.safetensors").exists()
    assert not (out / "summary.json").exists()

    first = demo(out)
    assert first.returncode == 0, first.stderr[-2000:]
    assert f"classifier: finished earlier, reusing {out / 'classifier'}" in first.stderr
    assert "pvae: resuming 60 steps" in first.stderr
    assert "dfc-classifier: training 60 steps" in first.stderr
    assert classifier.stat().st_mtime_ns == trained_at
    assert "exists and is not empty" not in first.stderr  # resuming reuses the folder on purpose
    steps = [
        int(row["step"])
        for row in csv.DictReader((out / "runs" / "pvae" / "logs" / "metrics.csv").open())
        if row.get("train/total_step")
    ]
    assert max(steps) == 59 and len(steps) == len(set(steps))  # merged logs, no step twice

    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["models"]) == {"pvae", "dfc-mobilenet", "dfc-classifier"}
    for name, model in summary["models"].items():
        assert model["sharpness_reconstructions"] > 0 and model["mse"] > 0
        assert 0 <= model["majority_baseline"] < model["class_accuracy"] <= 1, name
        assert model["frechet_samples"]["mobilenet_v2"] > 0
        if name != "pvae":
            assert model["sharpness_vs_pvae"]["p"] is not None
    html = (out / "report.html").read_text()
    assert "dfc-mobilenet" in html and html.count("data:image/png;base64,") >= 10
    assert "Laplacian" in first.stdout and str(out / "report.html") in first.stdout

    # Once everything is finished, a second run reuses every stage.
    (out / "summary.json").unlink()
    started = time.perf_counter()
    again = demo(out)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stderr.count("finished earlier") == 4
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
