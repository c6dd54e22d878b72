"""Build the on-disk cache of one split: decode and resize every image exactly once.

A cache is a folder ``<cache_dir>/<name>-<split>-<size>px-<c>ch-<crop>-<limit>-<key>/`` with

- ``images.npy``: uint8 ``(N, size, size, C)``, written with ``open_memmap`` and read back
  memory-mapped, so a split never has to fit in RAM (the map is reopened every ``CHUNK``
  images while writing: pages written through a map stay in the writer's resident set until
  it is unmapped, which for 200,000 images at 64 px would be 2.4 GB);
- ``labels.npy``: ``(N,)`` int64 classes or ``(N, A)`` uint8 attributes (absent if unlabelled);
- ``meta.json``: label names, source fingerprint, count and the skipped files with reasons.

``<key>`` hashes dataset, split, size, channels, crop, limit and the source fingerprint, so a
changed source or option never reuses a stale cache. Every file is written to a temporary
name in the same folder and moved into place with ``os.replace``; ``meta.json`` goes last and
marks the cache complete, so a crash or a concurrent builder (e.g. several DDP ranks) never
leaves a half-written cache behind that a later run would trust.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap
from tqdm.auto import tqdm

from .errors import DataError, SkippedFilesWarning
from .images import BadImage, to_channels
from .source import Source

# 2: CelebA's crop "original" became the original code's 138x138 box (it was 108x108), and the
# CelebA fingerprint covers every image file: caches of version 1 are rebuilt, never reused.
CACHE_VERSION = 2
META_FILE = "meta.json"
IMAGES_FILE = "images.npy"
LABELS_FILE = "labels.npy"
_SHOWN_SKIPS = 10
CHUNK = 4096  # images written through one memory map before it is flushed and reopened


def default_cache_dir() -> Path:
    """``$DFCVAE_CACHE`` if set, else ``~/.cache/dfcvae``."""
    env = os.environ.get("DFCVAE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dfcvae"


def cache_folder(
    cache_dir: Path,
    *,
    name: str,
    split: str,
    image_size: int,
    channels: int,
    crop: str,
    limit: int | None,
    fingerprint: str,
) -> Path:
    """The folder that holds (or will hold) the cache for these options and this source."""
    options = [CACHE_VERSION, name, split, image_size, channels, crop, limit, fingerprint]
    key = hashlib.sha1(json.dumps(options).encode()).hexdigest()[:12]
    count = "all" if limit is None else str(limit)
    return cache_dir / f"{name}-{split}-{image_size}px-{channels}ch-{crop}-{count}-{key}"


def is_complete(folder: Path) -> bool:
    """True when ``folder`` holds a finished cache (its meta file is written last)."""
    return (folder / META_FILE).is_file() and (folder / IMAGES_FILE).is_file()


def build_cache(
    folder: Path,
    source: Source,
    *,
    name: str,
    split: str,
    image_size: int,
    channels: int,
    limit: int | None,
    progress: bool,
) -> None:
    """Decode, convert and resize the source's images into ``folder``; skip unreadable files.

    Raises DataError if no image could be used.
    """
    items = source.read()
    count = len(items.names) if limit is None else min(limit, len(items.names))
    folder.mkdir(parents=True, exist_ok=True)
    with _temporary(folder, ".npy") as raw_path:
        shape = (count, image_size, image_size, channels)
        bar = tqdm(range(count), desc=f"caching {name} {split}", unit="img", disable=not progress)
        kept, skipped = _write_images(raw_path, items, shape, bar)
        if not kept:
            raise DataError(
                f"no usable images for {name} {split} in {source.where} "
                f"({len(skipped)} unreadable, e.g. {_first_names(skipped)})"
            )
        _publish_images(raw_path, folder / IMAGES_FILE, len(kept), count)
    if items.labels is not None:
        with _temporary(folder, ".npy") as labels_path:
            np.save(labels_path, np.ascontiguousarray(items.labels[kept]))
            os.replace(labels_path, folder / LABELS_FILE)
    meta = {
        "version": CACHE_VERSION,
        "name": name,
        "split": split,
        "image_size": image_size,
        "channels": channels,
        "count": len(kept),
        "label_kind": items.label_kind,
        "label_names": items.label_names,
        "fingerprint": source.fingerprint,
        "source": source.where,
        "skipped": skipped,
    }
    with _temporary(folder, ".json") as meta_path:
        meta_path.write_text(json.dumps(meta, indent=1))
        os.replace(meta_path, folder / META_FILE)
    if skipped:
        warnings.warn(
            f"{name} {split}: skipped {len(skipped)} unreadable image file(s): "
            f"{_first_names(skipped)}; reasons in {folder / META_FILE}",
            SkippedFilesWarning,
            stacklevel=3,
        )


def _write_images(
    raw_path: Path, items, shape: tuple[int, ...], indices: Iterable[int]
) -> tuple[list[int], list[dict[str, str]]]:
    """Write the usable images among ``indices`` one after another into a fresh ``.npy`` of
    ``shape`` (N, S, S, C) uint8; return the indices kept and the files skipped with reasons."""
    kept: list[int] = []
    skipped: list[dict[str, str]] = []
    raw = open_memmap(raw_path, mode="w+", dtype=np.uint8, shape=shape)
    for index in indices:
        try:
            img = items.prepare(to_channels(items.load(index), shape[-1]))
        except BadImage as err:
            skipped.append({"name": items.names[index], "reason": str(err)})
            continue
        raw[len(kept)] = np.asarray(img, dtype=np.uint8).reshape(raw.shape[1:])
        kept.append(index)
        if len(kept) % CHUNK == 0:
            raw.flush()
            raw = open_memmap(raw_path, mode="r+")  # the old map is released
    raw.flush()
    del raw
    return kept, skipped


def _publish_images(raw_path: Path, final: Path, kept: int, allocated: int) -> None:
    """Move the written array into place, first compacting it if files were skipped."""
    if kept == allocated:
        os.replace(raw_path, final)
        return
    shape = np.load(raw_path, mmap_mode="r").shape
    with _temporary(final.parent, ".npy") as compact_path:
        open_memmap(compact_path, mode="w+", dtype=np.uint8, shape=(kept, *shape[1:])).flush()
        for start in range(0, kept, CHUNK):  # fresh maps per chunk, as in build_cache
            stop = min(start + CHUNK, kept)
            compact = open_memmap(compact_path, mode="r+")
            compact[start:stop] = np.load(raw_path, mmap_mode="r")[start:stop]
            compact.flush()
            del compact
        os.replace(compact_path, final)


def _first_names(skipped: list[dict[str, str]]) -> str:
    names = ", ".join(item["name"] for item in skipped[:_SHOWN_SKIPS])
    more = len(skipped) - _SHOWN_SKIPS
    return names + (f" and {more} more" if more > 0 else "")


@contextmanager
def _temporary(folder: Path, suffix: str) -> Iterator[Path]:
    """A fresh temporary path in ``folder``, removed afterwards unless it was moved away."""
    handle, name = tempfile.mkstemp(prefix=".partial-", suffix=suffix, dir=folder)
    os.close(handle)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
