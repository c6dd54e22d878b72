"""The README's "Sharing and export" section runs as written: its Python blocks (in one namespace,
in order) and its shell commands, from a folder laid out as after `make demo`, on a tiny run of
real Fashion-MNIST standing in for the demo's dfc-mobilenet."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
import torch

from dfcvae.cli import main
from dfcvae.saved.pretrained import SHARED_FILES

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Sharing and export"


def section_blocks() -> list[tuple[str, str]]:
    """(language, code) of each fenced block of the README's sharing section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```(\w+)\n(.*?)^```$", section, re.S | re.M)


def run_shell_block(code: str) -> list[str]:
    """Each line of a shell block, a `dfcvae` command, through the CLI; the commands run."""
    commands = [line for line in code.splitlines() if line.strip()]
    for line in commands:
        program, *argv = shlex.split(line)
        assert program == "dfcvae", line
        assert main(argv) == 0, line
    return commands


def test_the_readmes_sharing_and_export_section_runs_as_written(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(tiny_run, tmp_path / "demo-out" / "runs" / "dfc-mobilenet")
    monkeypatch.chdir(tmp_path)
    blocks = section_blocks()
    assert [language for language, _ in blocks] == ["python", "sh", "python"]
    namespace: dict = {}
    commands = []
    for language, code in blocks:
        if language == "python":
            exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
        else:
            commands += run_shell_block(code)
    assert [shlex.split(c)[1] for c in commands] == ["evaluate", "export", "export"]

    images = namespace["images"]  # the comment's promise: (16, 1, 32, 32) in [0, 1]
    assert images.shape == (16, 1, 32, 32) and 0 <= images.min() <= images.max() <= 1
    assert sorted(p.name for p in Path("shared/dfc-mobilenet").iterdir()) == sorted(SHARED_FILES)
    assert "| reconstruction MSE per image" in Path("shared/dfc-mobilenet/README.md").read_text()
    assert sorted(p.name for p in Path("onnx/dfc-mobilenet").iterdir()) == [
        "decoder.onnx",
        "encoder.onnx",
    ]
    errors = namespace["errors"]
    assert set(errors) == {"mu", "logvar", "image"} and max(errors.values()) <= 1e-4
    reloaded = namespace["dfcvae"].from_pretrained("shared/dfc-mobilenet")
    assert torch.equal(
        reloaded.decode(torch.zeros(1, 16)), namespace["model"].decode(torch.zeros(1, 16))
    )
