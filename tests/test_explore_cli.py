"""`dfcvae explore` from the command line: one line for a bad run directory or a busy port, one
warning line off loopback, and the demo's closing hint."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from dfcvae.cli import main
from dfcvae.demo import MODELS, explore_command
from dfcvae.explore.server import ExploreServer
from dfcvae.files import CONFIG_FILE, MODEL_FILE

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tiny_run, tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("explore-cli") / "pvae"
    copy.mkdir()
    for name in (CONFIG_FILE, MODEL_FILE):
        shutil.copy(tiny_run / name, copy / name)
    return copy


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def test_a_folder_that_is_not_a_run_is_one_line(tmp_path, capsys):
    assert main(["explore", str(tmp_path), "--quiet"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("dfcvae explore: error: ") and CONFIG_FILE in line


def test_a_corrupt_model_file_is_one_line(run, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    (broken / MODEL_FILE).write_bytes(b"not safetensors")
    assert main(["explore", str(run), str(broken), "--quiet"]) == 2
    assert MODEL_FILE in one_line(capsys.readouterr().err)


def test_a_busy_port_is_one_line(run, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["explore", str(run), "--port", str(port), "--quiet"]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"--port {port}: cannot listen there" in line


def test_it_prints_the_url_and_warns_once_off_loopback(run, capsys, monkeypatch):
    def stop(self, poll_interval: float = 0.5) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ExploreServer, "serve_forever", stop)
    assert main(["explore", str(run), "--port", "0", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "http://127.0.0.1:" in captured.out and "warning" not in captured.err
    assert main(["explore", str(run), "--host", "0.0.0.0", "--port", "0", "--quiet"]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if "warning" in line]
    assert warnings == [
        "dfcvae explore: warning: listening on 0.0.0.0, not loopback: anyone who can reach this "
        "machine can use the page and upload to it"
    ]


def test_the_demo_ends_with_the_command_that_explores_its_three_runs(tmp_path):
    command = explore_command(tmp_path / "demo-out")
    assert command.split() == [
        "dfcvae",
        "explore",
        *(str(tmp_path / "demo-out" / "runs" / name) for name in MODELS),
    ]
    assert len(MODELS) == 3
