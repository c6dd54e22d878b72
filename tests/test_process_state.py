"""Library code leaves the process as it found it: glibc's allocator after ``dfcvae.train()``,
matplotlib's backend after ``import dfcvae.report``, ``DFCVAE_OFFLINE`` after
``offline.forced()`` and during the demo (which runs under the user's own setting).
Process-wide state, so each check runs in a fresh interpreter."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dfcvae.offline import ENV_VAR, forced, is_offline
from tests.conftest import needs_fashion_mnist

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter with dfcvae's source on the path; its stdout."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT), **env}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


# Whether a 64 MiB malloc is served by mmap, as glibc does by default (above its mmap threshold,
# at most 32 MiB) and not once ``training.memory.keep_freed_memory`` set M_MMAP_MAX to 0.
# glibc cannot report its mallopt settings; mallinfo2 counts the mmapped blocks.
MMAP_PROBE = """
import ctypes

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

def large_blocks_mmapped():
    before = libc.mallinfo2().hblks
    block = libc.malloc(64 << 20)
    mmapped = libc.mallinfo2().hblks > before
    libc.free(block)
    return mmapped
"""


def glibc_with_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


@pytest.mark.slow
@needs_fashion_mnist
@pytest.mark.skipif(not glibc_with_mallinfo2(), reason="needs glibc 2.33 or later")
def test_train_leaves_the_allocator_and_the_train_command_sets_it(tmp_path: Path) -> None:
    """``dfcvae.train()`` (a tiny CPU run) leaves glibc mmapping large blocks, as it found it;
    ``dfcvae train`` (the command, its training stubbed out) keeps freed memory instead."""
    out = run_python(
        MMAP_PROBE
        + f"""
import dfcvae
from dfcvae.cli import main, train_commands
from tests.conftest import tiny_config

print("fresh", large_blocks_mmapped())
config = tiny_config("pvae", {str(tmp_path / "cache")!r}, epochs=1, max_steps=2)
config.data.limit = 64
dfcvae.train(config, {str(tmp_path / "run")!r}, progress=False)
print("after train()", large_blocks_mmapped())
train_commands.train = lambda config, out, **kwargs: out  # the command, without training
main(["train", "--preset", "pvae", "--accelerator", "cpu", "--out", {str(tmp_path / "cli")!r}])
print("after dfcvae train", large_blocks_mmapped())
"""
    )
    assert [line for line in out.splitlines() if line.startswith(("fresh", "after"))] == [
        "fresh True",
        "after train() True",
        "after dfcvae train False",
    ]


def test_importing_the_report_leaves_matplotlibs_backend_alone() -> None:
    out = run_python(
        """
        import matplotlib
        matplotlib.use("svg")
        import dfcvae.report, dfcvae.report.figures
        print(matplotlib.get_backend())
        """,
        MPLBACKEND="svg",
    )
    assert out.strip() == "svg"


def test_figures_are_drawn_outside_pyplot(tmp_path: Path) -> None:
    """A figure is saved as a PNG and none is left among pyplot's open figures (pyplot may be
    imported by a dependency, torchmetrics, but dfcvae never opens a figure through it)."""
    out = run_python(
        f"""
        import sys
        from dfcvae.report.figures import save_figure, sharpness_figure
        figure = sharpness_figure({{"a": [1.0, 2.0], "b": [3.0]}})
        path = save_figure(figure, {str(tmp_path / "s.png")!r})
        pyplot = sys.modules.get("matplotlib.pyplot")
        print(path.read_bytes()[:4] == b"\\x89PNG", pyplot.get_fignums() if pyplot else [])
        """
    )
    assert out.strip() == "True []"


@pytest.mark.parametrize("before", [None, "0", "1"])
def test_forced_offline_holds_inside_and_restores_after(monkeypatch, before: str | None) -> None:
    if before is None:
        monkeypatch.delenv(ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(ENV_VAR, before)
    with pytest.raises(RuntimeError), forced():
        assert is_offline()
        raise RuntimeError("inside")
    assert os.environ.get(ENV_VAR) == before
    with forced(offline=False):
        assert not is_offline()
    assert os.environ.get(ENV_VAR) == before


@pytest.mark.parametrize("before", ["0", "1"])
def test_the_demo_runs_under_the_users_offline_setting(monkeypatch, tmp_path: Path, before) -> None:
    import dfcvae.demo

    monkeypatch.setenv(ENV_VAR, before)
    monkeypatch.setattr(dfcvae.demo, "check_weights", lambda: None)  # no download, either way
    seen = []

    def first_stage(out, plan, force):  # noqa: ANN001, ANN202
        seen.append(is_offline())
        raise RuntimeError("stop after the first stage")

    monkeypatch.setattr(dfcvae.demo, "prepare_out", first_stage)
    with pytest.raises(RuntimeError, match="first stage"):
        dfcvae.demo.run_demo(tmp_path, quick=True, device="cpu")
    assert seen == [before == "1"] and os.environ[ENV_VAR] == before
