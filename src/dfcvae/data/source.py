"""What a dataset module hands to the cache builder.

A :class:`Source` is cheap to make: it carries a fingerprint of the files on disk (part of the
cache key) and a ``read`` function that is only called when the cache must be built. ``read``
returns :class:`SourceItems`: one name and one ``load`` per image, plus labels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .preprocess import Prepare


@dataclass(frozen=True)
class SourceItems:
    """The images of one split, in order, before preprocessing.

    names: one display name per image (file name or ``"train[123]"``), used in skip reports.
    load: ``load(i)`` returns image ``i`` as a PIL image of any mode; raises BadImage if unusable.
    labels: ``(N,)`` int64 class indices, ``(N, A)`` uint8 {0, 1} attributes, or None.
    prepare: crop/pad/resize applied after the mode conversion, giving ``size`` x ``size``.
    """

    names: list[str]
    load: Callable[[int], Image.Image]
    labels: np.ndarray | None
    label_kind: str | None
    label_names: list[str]
    prepare: Prepare


@dataclass(frozen=True)
class Source:
    """A split of a dataset as found on disk: a fingerprint now, the items on demand."""

    fingerprint: str
    read: Callable[[], SourceItems]
    flip: bool
    where: str


def fingerprint_files(
    paths: Iterable[Path], *, base: Path | None = None, mtime: bool = True
) -> str:
    """Hash of file names, sizes and (optionally) modification times; changes when files do."""
    digest = hashlib.sha1()
    for path in paths:
        stat = path.stat()
        name = path.relative_to(base).as_posix() if base is not None else path.name
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns if mtime else 0}\n".encode())
    return digest.hexdigest()
