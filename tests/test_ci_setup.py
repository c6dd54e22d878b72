"""Under CI=true a missing prerequisite fails the run with one line saying what to install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_pytest(env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "tests/test_configs.py", "-k", "unknown_preset"]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_ci_fails_in_one_line_when_chromium_is_missing(tmp_path):
    env = {**os.environ, "CI": "true", "PATH": str(tmp_path)}  # no chromium on this PATH
    result = run_pytest(env)
    assert result.returncode == 4, result.stdout + result.stderr
    lines = [line for line in (result.stdout + result.stderr).splitlines() if "CI=true" in line]
    assert len(lines) == 1
    assert "headless Chromium: apt-get install chromium" in lines[0]


def test_outside_ci_the_same_machine_runs_and_skips_with_reasons(tmp_path):
    env = {**os.environ, "CI": "", "PATH": str(tmp_path)}
    result = run_pytest(env)
    assert result.returncode == 0, result.stdout + result.stderr
