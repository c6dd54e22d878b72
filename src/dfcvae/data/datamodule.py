"""The Lightning DataModule: cached train/valid/test splits and their DataLoaders."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightning
import torch
from torch.utils.data import DataLoader, DistributedSampler

from .build import build_dataset
from .cached_dataset import CachedImageDataset
from .errors import DataError


class DFCVAEDataModule(lightning.LightningDataModule):
    """Train on the "train" split (random flips where valid), validate on "valid", test on "test".

    Caches are built in ``prepare_data`` (once per node, before any process reads them) and
    opened in ``setup``. Batches are ``(images, labels)`` with images ``(B, C, H, W)`` float32 in
    [0, 1]; see CachedImageDataset for labels. The train loader brings its own
    DistributedSampler (seeded, so a resumed run replays the same order); Lightning keeps it.
    It is a ResumableLoader: checkpoints record how far into the epoch it was, so a run resumed
    from a mid-epoch checkpoint goes on with the next batch.
    """

    def __init__(
        self,
        dataset: str,
        *,
        root: str | Path | None = None,
        image_size: int = 64,
        channels: int | None = None,
        crop: str = "default",
        labels_file: str | Path | None = None,
        cache_dir: str | Path | None = None,
        limit: int | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        super().__init__()
        self.dataset = dataset
        self.seed = seed
        self.progress = progress  # progress bars while a cache is built
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self._options = dict(
            root=root,
            image_size=image_size,
            channels=channels,
            crop=crop,
            labels_file=labels_file,
            cache_dir=cache_dir,
            limit=limit,
        )
        self.train_set: CachedImageDataset | None = None
        self.val_set: CachedImageDataset | None = None
        self.test_set: CachedImageDataset | None = None

    def prepare_data(self) -> None:
        """Download if needed and build the train and valid caches (rank 0 of each node)."""
        for split in ("train", "valid"):
            self._build(split)

    def setup(self, stage: str | None = None) -> None:
        """Open the caches a stage needs; for fitting, check the batch fits in the train set."""
        if stage in (None, "fit") and self.train_set is None:
            self.train_set = self._build("train", augment=True)
            if self.batch_size > len(self.train_set):
                raise DataError(
                    f"--batch-size {self.batch_size} is larger than the {self.dataset} train set "
                    f"({len(self.train_set)} images); lower --batch-size"
                )
        if stage in (None, "fit", "validate") and self.val_set is None:
            self.val_set = self._build("valid")
        if stage in (None, "test") and self.test_set is None:
            self.test_set = self._build("test")

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches of the train split; the last incomplete batch is dropped."""
        if self.train_set is None:
            self.setup("fit")
        loader = self._loader(self.train_set, sampler=self._train_sampler(), drop_last=True)
        if self.trainer is not None:
            loop = self.trainer.fit_loop
            loader.batches_done = lambda: loop.epoch_loop.batch_progress.current.processed
        return loader

    def _train_sampler(self) -> ResumableSampler:
        """This process's shard, shuffled by (seed, epoch) alone, never by the global RNG: a
        resumed run sees the batches an uninterrupted one would. Lightning calls set_epoch only
        after it has made the first iterator (which starts the workers' first pass), so the
        epoch a resumed run goes on with is set here too."""
        trainer = self.trainer
        world, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        sampler = ResumableSampler(
            self.train_set, num_replicas=world, rank=rank, shuffle=True, seed=self.seed,
            drop_last=True, current_epoch=(lambda: trainer.current_epoch) if trainer else None,
            flips=self.train_set.flip,
        )  # fmt: skip
        if trainer is not None:
            sampler.set_epoch(trainer.fit_loop.epoch_progress.current.processed)
        return sampler

    def val_dataloader(self) -> DataLoader:
        """Batches of the valid split, in order."""
        if self.val_set is None:
            self.setup("validate")
        return self._loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        """Batches of the test split, in order."""
        if self.test_set is None:
            self.setup("test")
        return self._loader(self.test_set)

    @property
    def channels(self) -> int:
        """Image channels (1 or 3), known after setup."""
        return self._any_set().channels

    @property
    def image_size(self) -> int:
        """Image side in pixels, known after setup."""
        return self._any_set().image_size

    @property
    def label_names(self) -> list[str]:
        """Class or attribute names ([] when unlabelled), known after setup."""
        return self._any_set().label_names

    def _build(self, split: str, *, augment: bool = False) -> CachedImageDataset:
        return build_dataset(
            self.dataset, split=split, augment=augment, progress=self.progress, **self._options
        )

    def _loader(
        self, dataset: CachedImageDataset | None, *, sampler=None, drop_last: bool = False
    ) -> DataLoader:
        loader_class = ResumableLoader if isinstance(sampler, ResumableSampler) else DataLoader
        return loader_class(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def _any_set(self) -> CachedImageDataset:
        for dataset in (self.train_set, self.val_set, self.test_set):
            if dataset is not None:
                return dataset
        raise RuntimeError("call setup() before asking the DataModule about its images")


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
    ``batches_done`` reports the batches finished in the current epoch (the DataModule points it
    at the Trainer's progress counter: the loader itself runs ahead of training when prefetching).
    """

    batches_done: Callable[[], int] | None = None

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
