"""`dfcvae explore` from the command line: one line for a bad run directory or a busy port, one
warning line off loopback, the demo's closing hint, and a clean exit on Ctrl-C."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
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


def test_closing_waits_for_requests_in_progress_and_ends_idle_connections(run, monkeypatch):
    """What Ctrl-C runs: no handler thread may still be computing when the interpreter shuts
    down (that ended in "terminate called without an active exception")."""
    from dfcvae.explore import Explorer, make_server

    explorer = Explorer([run], progress=False)
    finished = threading.Event()
    original = explorer.render

    def slow_render(view):
        time.sleep(1.0)
        images = original(view)
        finished.set()
        return images

    monkeypatch.setattr(explorer, "render", slow_render)
    server = make_server(explorer, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    idle = socket.create_connection(server.server_address[:2])
    busy = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    body = json.dumps({"input": "test/0"})
    headers = {"Content-Type": "application/json"}
    threading.Thread(
        target=lambda: busy.request("POST", "/api/render", body, headers), daemon=True
    ).start()
    time.sleep(0.3)  # the render is under way
    server.shutdown()
    server.server_close()
    assert finished.is_set()  # closing waited for it
    idle.settimeout(5)
    assert idle.recv(1) == b""  # and ended the idle connection
    idle.close()
    busy.close()
    explorer.close()


@pytest.mark.slow
def test_ctrl_c_on_explore_always_exits_cleanly(run):
    """Eight tries, each stopped while the page's requests are in flight and a kept-alive
    connection waits: exit status 0, "stopped", nothing from C++ or Python's shutdown."""
    command = [sys.executable, "-m", "dfcvae", "explore", str(run), "--port", "0", "--quiet"]
    for attempt in range(8):
        child = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        port = int(child.stdout.readline().split("http://127.0.0.1:")[1].split("/")[0])
        idle = socket.create_connection(("127.0.0.1", port))
        clients = [threading.Thread(target=hammer, args=(port, k), daemon=True) for k in range(3)]
        for client in clients:
            client.start()
        time.sleep(0.5 + 0.1 * attempt)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
        idle.close()
        assert child.returncode == 0, (attempt, child.returncode, err)
        assert err.strip().splitlines()[-1] == "dfcvae explore: stopped", err
        assert "terminate" not in err and "Traceback" not in err, err


def hammer(port: int, seed: int) -> None:
    """Renders and samples over one kept-alive connection until the server goes away."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    try:
        for k in range(1000):
            strength = {"Bag": round(0.01 * (k + 1), 2)}
            body = json.dumps({"input": f"test/{seed}", "strengths": strength})
            connection.request("POST", "/api/render", body, headers)
            connection.getresponse().read()
            connection.request("POST", "/api/samples", json.dumps({"seed": k, "n": 4}), headers)
            connection.getresponse().read()
    except (OSError, http.client.HTTPException):
        pass
    finally:
        connection.close()
