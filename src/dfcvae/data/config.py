"""``DataConfig``: which data set a run reads, and how; it builds its own splits and DataModule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dfcvae.config import MAX_WORKERS, check_fields, option
from dfcvae.errors import ConfigError

from .build import DATASETS, build_dataset

if TYPE_CHECKING:
    from .cached_dataset import CachedImageDataset
    from .datamodule import DFCVAEDataModule

MAX_LIMIT = 10**9  # images per split: far above any data set, only a guard against typos


@dataclass
class DataConfig:
    dataset: str = option(
        "fashion-mnist", help="fashion-mnist, mnist, cifar10, stl10, celeba or folder"
    )
    root: str | None = option(
        None, flag="--data-root", help="data folder (CelebA layout, image folder, download dir)"
    )
    crop: str = option("default", choices=("default", "original", "none"), help="CelebA crop")
    labels_file: str | None = option(
        None,
        help="CSV of labels for --dataset folder: 'path,label' rows (classes) or a header "
        "'path,attr1,...' and 0/1 rows (attributes); paths relative to --data-root",
    )
    cache_dir: str | None = option(
        None, help="preprocessed cache (default $DFCVAE_CACHE or ~/.cache)"
    )
    limit: int | None = option(
        None,
        help="use only the first N images of each split (default: all)",
        at_least=1,
        at_most=MAX_LIMIT,
    )
    num_workers: int = option(
        0, help="DataLoader worker processes", at_least=0, at_most=MAX_WORKERS
    )

    def validate(self) -> None:
        if self.dataset not in DATASETS:
            raise ConfigError(
                f"--dataset {self.dataset!r} is unknown: choose one of {', '.join(DATASETS)}"
            )
        if self.dataset in ("celeba", "folder") and not self.root:
            raise ConfigError(f"--dataset {self.dataset} needs --data-root DIR")
        check_fields(self, "data")

    def build(
        self,
        split: str,
        *,
        image_size: int,
        channels: int | None,
        augment: bool = False,
        limit: int | None = None,
        progress: bool = True,
    ) -> CachedImageDataset:
        """One split at ``image_size`` and ``channels``; limit: default this config's own."""
        return build_dataset(
            self.dataset,
            root=self.root,
            split=split,
            image_size=image_size,
            channels=channels,
            augment=augment,
            crop=self.crop,
            labels_file=self.labels_file,
            cache_dir=self.cache_dir,
            limit=limit if limit is not None else self.limit,
            progress=progress,
        )

    def datamodule(
        self,
        *,
        image_size: int,
        channels: int | None,
        batch_size: int,
        seed: int,
        progress: bool = True,
    ) -> DFCVAEDataModule:
        """The three splits as a Lightning DataModule, batches of ``batch_size``."""
        from .datamodule import DFCVAEDataModule  # Lightning, only when training

        return DFCVAEDataModule(
            self.dataset,
            root=self.root,
            image_size=image_size,
            channels=channels,
            crop=self.crop,
            labels_file=self.labels_file,
            cache_dir=self.cache_dir,
            limit=self.limit,
            batch_size=batch_size,
            num_workers=self.num_workers,
            seed=seed,
            progress=progress,
        )
