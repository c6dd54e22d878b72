"""``build_dataset``: find a dataset's files, build its cache once, return the cached Dataset."""

from __future__ import annotations

from pathlib import Path

from .cache import build_cache, cache_folder, default_cache_dir, is_complete
from .cached_dataset import CachedImageDataset
from .celeba import celeba_source
from .digits import DIGITS, digits_source
from .errors import DataError
from .folder import folder_source
from .preprocess import CROPS
from .source import Source
from .splits import check_split
from .torchvision_sets import TORCHVISION_SETS, torchvision_source

DATASETS: tuple[str, ...] = ("fashion-mnist", "mnist", "cifar10", "stl10", "celeba", "folder")
GRAYSCALE_DATASETS: frozenset[str] = frozenset({"fashion-mnist", "mnist"})


def build_dataset(
    name: str,
    *,
    root: str | Path | None = None,
    split: str = "train",
    image_size: int = 64,
    channels: int | None = None,
    augment: bool = False,
    crop: str = "default",
    labels_file: str | Path | None = None,
    cache_dir: str | Path | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> CachedImageDataset:
    """One split of a dataset as ``(image, label)`` items, decoded once into an on-disk cache.

    Args:
        name: one of DATASETS.
        root: the ``--data-root`` folder. Required for celeba and folder; for the others, where
            their files are looked for and downloaded to (default ``<cache_dir>/downloads``).
        split: "train", "valid" or "test".
        image_size: side of the square output images, in pixels.
        channels: 1 (grayscale) or 3 (RGB); default the dataset's own (1 for the digit sets).
        augment: random horizontal flips, only for sets where a mirror image is still a valid
            sample (celeba, folder, cifar10, stl10; never the digits or clothes).
        crop: "default", "none", or "original" (celeba only); see each dataset's module.
        labels_file: CSV of labels for the folder dataset (see ``labels_csv``).
        cache_dir: where caches live; default ``default_cache_dir()``.
        limit: keep only the first ``limit`` items of the split (for quick runs).
        progress: show a progress bar while the cache is built.

    Returns:
        A CachedImageDataset of ``(image (C, H, W) float32 in [0, 1], label)``.
    """
    _check_options(name, split, image_size, channels, crop, limit, labels_file)
    channels = channels or (1 if name in GRAYSCALE_DATASETS else 3)
    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    data_root = Path(root).expanduser() if root is not None else None
    source = _source(
        name,
        root=data_root,
        downloads=data_root or cache_root / "downloads",
        split=split,
        image_size=image_size,
        crop=crop,
        labels_file=Path(labels_file).expanduser() if labels_file is not None else None,
    )
    options = dict(name=name, split=split, image_size=image_size, channels=channels, limit=limit)
    folder = cache_folder(cache_root, crop=crop, fingerprint=source.fingerprint, **options)
    if not is_complete(folder):
        try:
            build_cache(folder, source, progress=progress, **options)
        except OSError as err:
            raise DataError(
                f"building the {name} cache in {folder.parent} failed ({err}); check free space "
                "and permissions, or choose another --cache-dir"
            ) from None
    return CachedImageDataset(folder, flip=augment and source.flip)


def _source(
    name: str,
    *,
    root: Path | None,
    downloads: Path,
    split: str,
    image_size: int,
    crop: str,
    labels_file: Path | None,
) -> Source:
    where = dict(split=split, image_size=image_size, crop=crop)
    if name in DIGITS:
        return digits_source(name, root=root, downloads=downloads, **where)
    if name in TORCHVISION_SETS:
        return torchvision_source(name, downloads=downloads, **where)
    if name == "celeba":
        return celeba_source(root, **where)
    return folder_source(root, labels_file=labels_file, **where)


def _check_options(
    name: str,
    split: str,
    image_size: int,
    channels: int | None,
    crop: str,
    limit: int | None,
    labels_file: str | Path | None,
) -> None:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    check_split(split)
    if not isinstance(image_size, int) or image_size < 1:
        raise DataError(f"--image-size must be a positive number of pixels, not {image_size!r}")
    if channels not in (None, 1, 3):
        raise DataError(f"--channels must be 1 (grayscale) or 3 (RGB), not {channels!r}")
    if crop not in CROPS:
        raise DataError(f"unknown crop {crop!r}; choose one of {', '.join(CROPS)}")
    if limit is not None and limit < 1:
        raise DataError(f"--limit must be at least 1, not {limit}")
    if labels_file is not None and name != "folder":
        raise DataError(f"--labels-file applies to the folder dataset only, not {name}")
