"""Checkpoints and exact resume: reading and writing checkpoints, choosing the one ``--resume``
continues from, and the pieces that make a resumed run continue where its checkpoint was
written, mid-epoch included.

Everything here that reads or rewrites Lightning's loop state is written against Lightning 2.6
(the range pinned in pyproject.toml); tests/test_lightning_internals.py fails, naming what
moved, when a Lightning release changes it. What each piece works around upstream:

- ``ResumableLoader``: Lightning resumes a mid-epoch checkpoint exactly only for a loader with
  ``state_dict``/``load_state_dict``, and warns otherwise (Lightning-AI/pytorch-lightning#18780,
  #19764).
- ``ResumableSampler.for_trainer``: the sampler's epoch is set only after the first iterator of
  a resumed fit is made, so that pass would replay epoch 0's order (#21938, open for 2.6).
- ``ExactResume``: the epoch counters restored after a checkpoint written at an epoch's end, or
  as ``max_steps`` stops a run, are one off; no upstream issue was found for it, and
  ``test_a_resumed_run_trains_on_the_batches_an_uninterrupted_one_would`` fails when it moves.

Faults (docs/reliability.md): checkpoints are written to a temporary file in their folder and
renamed into place, and read with ``weights_only=True``; ``--resume`` takes the newest readable
checkpoint, naming any it skips.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from dfcvae.errors import RunDirError
from dfcvae.files import atomic_write
from dfcvae.training.run_dir import CHECKPOINT_DIR, LAST_CHECKPOINT

# --- Checkpoint files ------------------------------------------------------------------------


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint of this run, read with ``weights_only=True`` (tensors and plain
    containers only: a pickle that would run code is refused); one line naming the file if it
    is refused, truncated, corrupt or not a training checkpoint."""
    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - UnpicklingError, EOFError, RuntimeError alike
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        if lines and lines[0].startswith("Weights only load failed"):
            detail = next((x for x in lines if x.startswith("Unsupported")), "not plain tensors")
            reason = (
                "corrupt, or pickled objects other than tensors: refused without unpickling "
                f"it (weights_only=True: {detail[:120]})"
            )
        else:
            first = (lines or [type(error).__name__])[0].split(". ")[0]  # torch adds advice
            reason = f"truncated or corrupt ({first[:160]})"
        raise RunDirError(f"{path}: {reason}") from None
    if not isinstance(checkpoint, dict) or not {"state_dict", "loops", "global_step"} <= set(
        checkpoint
    ):
        raise RunDirError(f"{path}: not a training checkpoint (no state_dict, loops, global_step)")
    return checkpoint


def last_checkpoint(out: Path) -> Path | None:
    path = out / CHECKPOINT_DIR / LAST_CHECKPOINT
    return path if path.is_file() else None


def _step_in_name(path: Path) -> int:
    found = re.search(r"step(\d+)", path.stem)
    return int(found.group(1)) if found else -1


def resume_checkpoint(out: Path) -> Path:
    """The checkpoint ``--resume`` continues from: ``last.ckpt`` if it reads, else the newest
    other one that does (by the step in its name). Each unreadable one is named in a warning."""
    folder = out / CHECKPOINT_DIR
    candidates = sorted(
        folder.glob("*.ckpt"),
        key=lambda path: (path.name == LAST_CHECKPOINT, _step_in_name(path)),
        reverse=True,
    )
    if not candidates:
        raise RunDirError(f"--resume: {folder / LAST_CHECKPOINT} is missing")
    refused = []
    for path in candidates:
        try:
            read_checkpoint(path)
        except RunDirError as error:
            refused.append(str(error))
            continue
        for reason in refused:
            warnings.warn(f"{reason}; resuming from {path.name} instead", stacklevel=2)
        return path
    raise RunDirError(f"--resume: no readable checkpoint in {folder}: {'; '.join(refused)}")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written like every other file of a run (``dfcvae.files.atomic_write``: a
    temporary file in the same folder, flushed to disk, renamed over the old one) and read with
    ``read_checkpoint``. Lightning's own writer stages the file in the system temp folder, so
    its final move can be a copy that a kill cuts short."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        try:
            atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))
        except OSError as error:
            raise RunDirError(
                f"{path}: cannot write the checkpoint ({error.strerror or error}); the earlier "
                "checkpoints are intact: make room and rerun with --resume"
            ) from None

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
        return read_checkpoint(path)


# --- Lightning's loop counters ---------------------------------------------------------------


def batch_end_progress(
    epoch: int, batches_done: int, batches_per_epoch: int, total_batches: int
) -> dict[str, Any]:
    """Lightning's loop counters as they stand when batch ``batches_done`` (1-based) of
    ``epoch`` (0-based) has just ended: the one state that Lightning resumes exactly."""
    epochs = {"ready": epoch + 1, "started": epoch + 1, "processed": epoch, "completed": epoch}

    def batches(n: int) -> dict[str, int]:
        return {"ready": n, "started": n, "processed": n, "completed": n - 1}

    return {
        "epoch_progress": {"total": dict(epochs), "current": dict(epochs)},
        "epoch_loop.batch_progress": {
            "total": batches(total_batches),
            "current": batches(batches_done),
            "is_last_batch": batches_done >= batches_per_epoch,
        },
    }


class ExactResume(Callback):
    """Makes a resumed run continue exactly where its checkpoint was written.

    Lightning 2.6 restores its epoch counters one off after a checkpoint written in
    ``on_train_epoch_end`` when ``max_steps`` is set, after one written as ``max_steps`` stops a
    run mid-epoch (it reads as a finished epoch), and after one written at the last batch of an
    epoch. The train loader's state in the checkpoint (epoch, samples done, batches per epoch;
    see ``ResumableLoader``) says where the run was, so the loop counters are rewritten, before
    Lightning restores them, into the "batch k of epoch E has just ended" form that it resumes
    exactly.
    """

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        fit_loop = checkpoint.get("loops", {}).get("fit_loop", {})
        loaders = fit_loop.get("state_dict", {}).get("combined_loader") or []
        if len(loaders) != 1 or "batches_per_epoch" not in loaders[0]:
            return  # not written by this version: leave it to Lightning
        loader = loaders[0]
        per_epoch = int(loader["batches_per_epoch"])
        epoch, done = int(loader["epoch"]), int(loader["batches_done"])
        if done == 0 and epoch > 0:
            epoch, done = epoch - 1, per_epoch
        total = int(fit_loop["epoch_loop.batch_progress"]["total"]["processed"])
        if done > 0:
            fit_loop.update(batch_end_progress(epoch, done, per_epoch, total))


# --- The train loader: shuffled by (seed, epoch), resumable mid-epoch ------------------------

FLIP_SEED = 2**40  # flips draw from seed FLIP_SEED + seed + epoch, the order from seed + epoch


class ResumableSampler(DistributedSampler):
    """A DistributedSampler that shuffles by the Trainer's epoch and can resume part-way.

    ``current_epoch`` (the Trainer's) sets the shuffle of every pass after the first: Lightning's
    own ``set_epoch`` runs one ahead after a resume from a checkpoint written at an epoch's end
    in a ``max_steps`` run. ``resume(epoch, start)`` makes the next pass cover ``epoch`` from
    index ``start`` of this process's shard. With ``flips``, it yields ``(index, flip)`` keys
    instead of indices, each image's flip drawn by (seed, epoch) like the order, so a resumed run
    flips the images an uninterrupted one would, whatever the number of workers.
    """

    def __init__(
        self,
        *args: Any,
        current_epoch: Callable[[], int] | None = None,
        flips: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.current_epoch = current_epoch
        self.flips = flips
        self._resume: tuple[int, int] | None = None
        self._passes = 0
        self.pass_epoch = 0

    @classmethod
    def for_trainer(
        cls, dataset: Dataset, trainer: L.Trainer | None, *, seed: int, flips: bool
    ) -> ResumableSampler:
        """This process's shard, shuffled by (seed, epoch) alone, never by the global RNG: a
        resumed run sees the batches an uninterrupted one would. Lightning calls set_epoch only
        after it has made the first iterator (which starts the workers' first pass), so the
        epoch a resumed run goes on with is set here too."""
        world, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        sampler = cls(
            dataset,
            num_replicas=world,
            rank=rank,
            shuffle=True,
            seed=seed,
            drop_last=True,
            current_epoch=(lambda: trainer.current_epoch) if trainer else None,
            flips=flips,
        )
        if trainer is not None:
            sampler.set_epoch(trainer.fit_loop.epoch_progress.current.processed)
        return sampler

    def resume(self, epoch: int, start: int) -> None:
        self.set_epoch(epoch)
        self._resume = (epoch, start)

    def __iter__(self) -> Iterator[int]:
        start = 0
        if self._resume is not None:
            (epoch, start), self._resume = self._resume, None
            self.set_epoch(epoch)
        elif self._passes and self.current_epoch is not None:
            self.set_epoch(self.current_epoch())
        self._passes += 1
        self.pass_epoch = self.epoch  # set_epoch may run later, while this pass is being read
        indices = list(super().__iter__())[start:]
        if not self.flips:
            return iter(indices)
        draws = torch.Generator().manual_seed(FLIP_SEED + self.seed + self.epoch)
        flipped = (torch.rand(len(self.dataset), generator=draws) < 0.5).tolist()
        return iter([(i, flipped[i]) for i in indices])


class ResumableLoader(DataLoader):
    """The train DataLoader, whose place in the epoch goes into checkpoints.

    Lightning saves ``state_dict()`` of a train loader that has one and, when it resumes
    mid-epoch, hands it back to ``load_state_dict`` before making the first iterator. The state
    is (epoch, samples of this shard already trained on, batches per epoch); the sampler skips
    those samples once, so the resumed run trains on the batches an uninterrupted run would
    still have seen.
    ``batches_done`` reports the batches finished in the current epoch (``follow`` points it at
    the Trainer's progress counter: the loader itself runs ahead of training when prefetching).
    """

    batches_done: Callable[[], int] | None = None

    def follow(self, trainer: L.Trainer) -> None:
        loop = trainer.fit_loop
        self.batches_done = lambda: loop.epoch_loop.batch_progress.current.processed

    def state_dict(self) -> dict[str, int]:
        sampler = self.sampler
        assert isinstance(sampler, ResumableSampler) and self.batch_size is not None
        done = self.batches_done() if self.batches_done is not None else 0
        return {
            "epoch": sampler.pass_epoch,
            "batches_done": done,
            "samples_done": done * self.batch_size,
            "batches_per_epoch": len(self),
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        sampler = self.sampler
        assert isinstance(sampler, ResumableSampler) and self.batch_size is not None
        epoch, done = int(state["epoch"]), int(state["samples_done"])
        if done >= len(self) * self.batch_size:  # written as that epoch ended
            epoch, done = epoch + 1, 0
        sampler.resume(epoch, done)
