"""Any folder of images, searched recursively, with an optional labels CSV.

Image files: suffixes jpg, jpeg, png, bmp, gif, webp, tif, tiff (any case), sorted by their
relative path so the order never depends on the file system. Splits are 80/10/10 by a hash of
the relative path (see ``splits.folder_split``). With a labels file (see ``labels_csv``) only
the images both on disk and listed are used: images without a row, and rows naming files that
are not in the folder, are left out with a warning that counts and names them. Preprocessing:
the central square, resized (``crop="default"``), or the whole image squashed to a square
(``crop="none"``).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np

from .errors import DataError, SkippedFilesWarning
from .images import IMAGE_SUFFIXES, open_image
from .labels_csv import FolderLabels, read_labels_file
from .preprocess import Prepare, center_square, check_crop, resize
from .source import Source, SourceItems, fingerprint_files
from .splits import folder_split


def folder_source(
    root: Path | None, *, split: str, image_size: int, crop: str, labels_file: Path | None
) -> Source:
    """The requested split of the images under ``root``."""
    check_crop(crop, "folder")
    if root is None:
        raise DataError("the folder dataset needs --data-root, the folder of images")
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; check --data-root")
    files = find_images(root)
    if not files:
        suffixes = ", ".join(sorted(suffix[1:] for suffix in IMAGE_SUFFIXES))
        raise DataError(f"no image files ({suffixes}) found in {root}; check --data-root")
    if labels_file is not None and not labels_file.is_file():
        raise DataError(f"labels file {labels_file} does not exist; check --labels-file")
    fingerprint = fingerprint_files(files, base=root)
    if labels_file is not None:
        fingerprint += hashlib.sha1(labels_file.read_bytes()).hexdigest()

    def read() -> SourceItems:
        relative = [path.relative_to(root).as_posix() for path in files]
        labels = read_labels_file(labels_file) if labels_file is not None else None
        if labels is not None:
            relative = listed_images(relative, labels, root, labels_file)
        names = [name for name in relative if folder_split(name) == split]
        if not names:
            raise DataError(
                f"none of the {len(relative)} images in {root} fall in the {split} split "
                "(80/10/10 by a hash of the path); add images or use another split"
            )
        return SourceItems(
            names=names,
            load=lambda i: open_image(root / names[i]),
            labels=None if labels is None else _label_array(labels, names),
            label_kind=None if labels is None else labels.kind,
            label_names=[] if labels is None else labels.names,
            prepare=prepare(image_size, crop),
        )

    return Source(fingerprint=fingerprint, read=read, flip=True, where=str(root))


def listed_images(
    relative: list[str], labels: FolderLabels, root: Path, labels_file: Path
) -> list[str]:
    """The images of ``relative`` that ``labels`` lists, sorted; a warning counts and names the
    images without a row and the rows naming files that are not in ``root``."""
    on_disk = set(relative)
    used = sorted(on_disk & labels.rows.keys())
    if not used:
        raise DataError(
            f"none of the {len(labels.rows)} rows of {labels_file} names an image in {root}; "
            "paths in the labels file are relative to --data-root"
        )
    unlabelled = sorted(on_disk - labels.rows.keys())
    missing = sorted(labels.rows.keys() - on_disk)
    for names, what in (
        (unlabelled, f"image(s) in {root} have no row in {labels_file.name} and are left out"),
        (missing, f"row(s) of {labels_file.name} name files that are not in {root}"),
    ):
        if names:
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            warnings.warn(f"{len(names)} {what} ({shown})", SkippedFilesWarning, stacklevel=5)
    return used


def prepare(image_size: int, crop: str) -> Prepare:
    """The central square, resized (``"default"``), or the whole image squashed (``"none"``)."""
    if crop == "default":
        return lambda img: resize(center_square(img), image_size)
    return lambda img: resize(img, image_size)


def _label_array(labels: FolderLabels, names: list[str]) -> np.ndarray:
    """``(N,)`` int64 class indices or ``(N, A)`` uint8 attributes, in the order of ``names``."""
    dtype = np.int64 if labels.kind == "class" else np.uint8
    return np.asarray([labels.rows[name] for name in names], dtype=dtype)


def find_images(root: Path) -> list[Path]:
    """Image files under ``root`` (recursively), sorted by relative posix path."""
    found = [p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())
