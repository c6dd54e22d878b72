"""The Lightning DataModule: cached train/valid/test splits and their DataLoaders."""

from __future__ import annotations

from pathlib import Path

import lightning
import torch
from torch.utils.data import DataLoader

from dfcvae.training.resume import ResumableLoader, ResumableSampler

from .build import build_dataset
from .cached_dataset import CachedImageDataset
from .errors import DataError


class DFCVAEDataModule(lightning.LightningDataModule):
    """Train on the "train" split (random flips where valid), validate on "valid", test on "test".

    Caches are built in ``prepare_data`` (once per node, before any process reads them) and
    opened in ``setup``. Batches are ``(images, labels)`` with images ``(B, C, H, W)`` float32 in
    [0, 1]; see CachedImageDataset for labels. The train loader brings its own
    DistributedSampler (seeded, so a resumed run replays the same order); Lightning keeps it.
    It is a ResumableLoader (``dfcvae.training.resume``): checkpoints record how far into the
    epoch it was, so a run resumed from a mid-epoch checkpoint goes on with the next batch.
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
        sampler = ResumableSampler.for_trainer(
            self.train_set, self.trainer, seed=self.seed, flips=self.train_set.flip
        )
        loader = self._loader(self.train_set, sampler=sampler, drop_last=True)
        if self.trainer is not None:
            loader.follow(self.trainer)
        return loader

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
