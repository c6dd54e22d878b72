"""The run directory: who claims it, refusing to clobber one, room on its disk, and the CSV log
that a resumed run continues.

A run directory holds ``config.json``, ``model.safetensors``, ``checkpoints/``, ``logs/`` (CSV)
and ``tensorboard/``.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from torch import nn

from dfcvae.errors import RunDirError
from dfcvae.files import CONFIG_FILE, MODEL_FILE, atomic_write

CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
MIN_FREE_BYTES = 200 * 2**20


def is_launcher_rank_zero() -> bool:
    """False in every process but global rank 0: the workers that Lightning's DDP launcher
    starts (LOCAL_RANK, NODE_RANK), and the other ranks under torchrun (RANK) or srun
    (SLURM_PROCID), so that only one process claims the run directory."""
    names = ("LOCAL_RANK", "NODE_RANK", "RANK", "SLURM_PROCID")
    return all(os.environ.get(name, "0") == "0" for name in names)


def prepare_run_dir(out: Path, resume: bool, force: bool) -> None:
    """Refuse to clobber a run, and check the folder is writable with room to spare."""
    existing = [name for name in (CONFIG_FILE, MODEL_FILE, CHECKPOINT_DIR) if (out / name).exists()]
    if existing and not resume:
        if not force:
            raise RunDirError(
                f"{out} already holds a run ({', '.join(existing)}): continue it with --resume "
                "(resume=True in Python) or start over with --force (force=True)"
            )
        for name in (MODEL_FILE, CHECKPOINT_DIR, "logs", "tensorboard"):
            path = out / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    for stale in (out / CHECKPOINT_DIR).glob(".*.tmp"):  # from a run killed while saving
        stale.unlink(missing_ok=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise RunDirError(f"--out {out}: not writable ({error.strerror})") from None
    free = shutil.disk_usage(out).free
    if free < MIN_FREE_BYTES:
        raise RunDirError(f"--out {out}: only {free // 2**20} MiB free on its disk; need 200 MiB")


RUN_PARTS = (CONFIG_FILE, MODEL_FILE, CHECKPOINT_DIR, "logs", "tensorboard")


@contextlib.contextmanager
def removed_on_failure(out: Path) -> Iterator[None]:
    """On any exception (Ctrl-C included) before the run has a checkpoint, remove what this run
    added to ``out`` (its config, weights, checkpoints and logs), and ``out`` itself if it was
    made here and is left empty. What was there before stays, and so does any run with a
    checkpoint (``--resume`` continues it)."""
    made_here = not out.exists()
    before = {name for name in RUN_PARTS if (out / name).exists()}
    try:
        yield
    except BaseException:
        if not out.is_dir() or any((out / CHECKPOINT_DIR).glob("*.ckpt")):
            raise
        for name in set(RUN_PARTS) - before:
            path = out / name
            with contextlib.suppress(OSError):
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        if made_here:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if empty
        raise


def check_room_for_checkpoints(out: Path, model: nn.Module) -> None:
    """Refuse to start unless the disk holds three checkpoints of ``model`` (weights and two
    Adam moments each) besides the 200 MiB margin: last.ckpt, an epoch's and the temporary file
    of the next."""
    checkpoint_bytes = 3 * sum(p.numel() * p.element_size() for p in model.parameters())
    need = MIN_FREE_BYTES + 3 * checkpoint_bytes
    free = shutil.disk_usage(out).free
    if free < need:
        raise RunDirError(
            f"--out {out}: only {free // 2**20} MiB free on its disk; checkpoints of this model "
            f"need {need // 2**20} MiB (3 of {checkpoint_bytes // 2**20} MiB and a margin)"
        )


def keep_earlier_logs(out: Path) -> Path | None:
    """Lightning's CSV logger deletes ``metrics.csv`` when it starts; set it aside first (after
    a resume that was itself killed, both files are there: join them)."""
    log = out / "logs" / "metrics.csv"
    earlier = log.with_name("metrics.before-resume.csv")
    if earlier.is_file() and log.is_file():
        _write_rows(earlier, _joined(_read_rows(earlier), _read_rows(log)))
        log.unlink()
    elif log.is_file():
        os.replace(log, earlier)
    return earlier if earlier.is_file() else None


def merge_logs(out: Path, earlier: Path) -> None:
    """Put the rows logged before a resume back in front of the new ones."""
    log = out / "logs" / "metrics.csv"
    _write_rows(log, _joined(_read_rows(earlier), _read_rows(log)))
    earlier.unlink()


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _joined(earlier: list[dict[str, str]], later: list[dict[str, str]]) -> list[dict[str, str]]:
    """``earlier`` then ``later``, less the earlier rows that the later run logged again (those
    after the checkpoint it resumed from)."""
    steps = [int(float(row["step"])) for row in later if row.get("step")]
    first = min(steps, default=None)
    kept = [row for row in earlier if first is None or int(float(row.get("step") or 0)) < first]
    return kept + later


def _write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    keys = sorted({key for row in rows for key in row})

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)
