"""The Lightning internals that ``dfcvae.training.resume`` reads and rewrites, checked on a real
(tiny) fit: the loop counters in a checkpoint, the Trainer's progress attributes, the train
loader's state, and that a resumed run continues exactly where it stopped.

These fail with one message naming what moved when a Lightning release changes them: the range
pinned in pyproject.toml is the one ``ExactResume`` was written and tested against.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from dfcvae.config import TrainConfig
from dfcvae.training.resume import (
    AtomicCheckpointIO,
    ExactResume,
    ResumableLoader,
    ResumableSampler,
    batch_end_progress,
    read_checkpoint,
)
from dfcvae.training.trainer import checkpoint_callbacks

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.filterwarnings("ignore:The dirpath has changed"),  # resumed into another folder
]

SAMPLES, BATCH = 8, 2  # 4 batches an epoch
PER_EPOCH = SAMPLES // BATCH
STEPS = 10  # two and a half epochs
DATA = TensorDataset(torch.arange(SAMPLES, dtype=torch.float32).unsqueeze(1))


def moved(what: str) -> None:
    pytest.fail(
        f"Lightning {L.__version__} changed {what}, which dfcvae.training.resume reads or "
        "rewrites (ExactResume, ResumableLoader; written against Lightning 2.6, the range "
        "pyproject.toml pins): check them against this release before widening the pin",
        pytrace=False,
    )


def attribute(obj: Any, dotted: str) -> Any:
    for name in dotted.split("."):
        if not hasattr(obj, name):
            moved(f"the Trainer attribute {dotted} (no {name!r})")
        obj = getattr(obj, name)
    return obj


def entry(mapping: Any, *keys: str) -> Any:
    for depth, key in enumerate(keys):
        if not isinstance(mapping, dict) or key not in mapping:
            moved(f"the checkpoint's loop state: no {'/'.join(keys[: depth + 1])}")
        mapping = mapping[key]
    return mapping


class Counter(L.LightningModule):
    """A one-weight model that records the sample numbers of every batch it trains on."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.seen: list[list[int]] = []

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        (x,) = batch
        self.seen.append([int(v) for v in x[:, 0]])
        return (self.weight * x).pow(2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


class Numbers(L.LightningDataModule):
    """The train loader the DataModule builds, over the numbers 0..7."""

    def train_dataloader(self) -> ResumableLoader:
        sampler = ResumableSampler.for_trainer(DATA, self.trainer, seed=3, flips=False)
        loader = ResumableLoader(DATA, batch_size=BATCH, sampler=sampler, drop_last=True)
        loader.follow(self.trainer)
        return loader


def fit(folder: Path, max_steps: int, resume: bool = False) -> list[list[int]]:
    """Batches seen by a run of ``max_steps`` steps in ``folder`` (from its ``last.ckpt`` when
    resuming), with the checkpoints ``dfcvae train`` writes: per epoch, last, every step."""
    callbacks = [
        ExactResume(),
        *checkpoint_callbacks(TrainConfig(checkpoint_every_n_steps=1), folder),
    ]
    trainer = L.Trainer(
        default_root_dir=folder, accelerator="cpu", devices=1, max_steps=max_steps,
        max_epochs=10, logger=False, enable_progress_bar=False, enable_model_summary=False,
        plugins=[AtomicCheckpointIO()], callbacks=callbacks,
    )  # fmt: skip
    module = Counter()
    last = folder / "checkpoints" / "last.ckpt" if resume else None
    trainer.fit(module, datamodule=Numbers(), ckpt_path=last, weights_only=True)
    return module.seen


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[list[int]]]:
    folder = tmp_path_factory.mktemp("run")
    return folder, fit(folder, STEPS)


def test_fit_takes_weights_only() -> None:
    if "weights_only" not in inspect.signature(L.Trainer.fit).parameters:
        moved("Trainer.fit's parameters (no weights_only)")


def test_the_trainer_has_the_progress_counters_the_train_loader_reads() -> None:
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False)
    for dotted in (
        "fit_loop.epoch_loop.batch_progress.current.processed",
        "fit_loop.epoch_progress.current.processed",
        "current_epoch",
        "world_size",
        "global_rank",
    ):
        if not isinstance(attribute(trainer, dotted), int):
            moved(f"the Trainer attribute {dotted} (no longer an int)")


def test_a_checkpoint_holds_the_loop_state_exact_resume_rewrites(tmp_path: Path) -> None:
    fit(tmp_path, 6)
    checkpoint = read_checkpoint(
        tmp_path / "checkpoints" / "step0000006.ckpt"
    )  # batch 2 of epoch 1 just ended
    fit_loop = entry(checkpoint, "loops", "fit_loop")
    loaders = entry(fit_loop, "state_dict", "combined_loader")
    assert loaders == [{"epoch": 1, "batches_done": 2, "samples_done": 4, "batches_per_epoch": 4}]
    written = batch_end_progress(1, 2, PER_EPOCH, 6)
    for name, progress in written.items():
        stored = entry(fit_loop, name)
        for part in ("total", "current"):
            if set(entry(stored, part)) != set(progress[part]):
                moved(f"the counters in the checkpoint's {name}/{part}: {sorted(stored[part])}")
        if set(stored) != set(progress):
            moved(f"the checkpoint's {name}: {sorted(stored)}")
    # What Lightning wrote here is already the form ExactResume writes.
    assert fit_loop["epoch_loop.batch_progress"] == written["epoch_loop.batch_progress"]
    assert fit_loop["epoch_progress"]["current"] == written["epoch_progress"]["current"]


@pytest.mark.parametrize(
    "stops",
    [
        [4],  # max_steps at an epoch's end: Lightning alone starts the next epoch's order late
        [6],  # max_steps mid-epoch: Lightning alone reads it as a finished epoch
        [4, 6],  # resumed from an epoch's last batch, then stopped again: replays part of one
        [3, 5, 8],
    ],
)
def test_a_resumed_run_trains_on_the_batches_an_uninterrupted_one_would(
    uninterrupted, tmp_path: Path, stops: list[int]
) -> None:
    _, whole = uninterrupted
    assert len(whole) == STEPS
    epochs = [sorted(sum(whole[e * PER_EPOCH : (e + 1) * PER_EPOCH], [])) for e in range(2)]
    assert epochs == [list(range(SAMPLES))] * 2  # each epoch a permutation of the data
    seen = fit(tmp_path, stops[0])
    for stop in [*stops[1:], STEPS]:
        seen += fit(tmp_path, stop, resume=True)
    if seen != whole:
        moved(
            f"how a run stopped at steps {stops} and resumed continues: it trained on {seen}, "
            f"an uninterrupted run on {whole}"
        )
