"""Datasets for dfcvae: decode once into a memory-mapped uint8 cache, then train from it.

``build_dataset(name, split=...)`` returns a :class:`CachedImageDataset` of
``(image (C, H, W) float32 in [0, 1], label)``; :class:`DFCVAEDataModule` wraps the three splits
for Lightning; a run's :class:`DataConfig` builds both from its options. Every problem a user
can fix is a one-line :class:`DataError`.

Bad data policy: corrupt, truncated, zero-byte and non-image files, and decompression bombs,
are skipped while the cache is built, counted, named in a :class:`SkippedFilesWarning` (first
10 names and a count) and listed with reasons in the cache's ``meta.json``; if nothing usable
remains it is a DataError naming the folder. See ``images.py`` for how modes are converted.
"""

from .build import DATASETS, build_dataset
from .cache import default_cache_dir
from .cached_dataset import CachedImageDataset
from .config import DataConfig
from .errors import DataError, SkippedFilesWarning
from .splits import SPLITS

__all__ = [
    "DATASETS",
    "CachedImageDataset",
    "DFCVAEDataModule",
    "DataConfig",
    "DataError",
    "SPLITS",
    "SkippedFilesWarning",
    "build_dataset",
    "default_cache_dir",
]


def __getattr__(name: str):
    # Lazy: the DataModule pulls in Lightning, which analysis code does not need.
    if name == "DFCVAEDataModule":
        from .datamodule import DFCVAEDataModule

        return DFCVAEDataModule
    raise AttributeError(name)
