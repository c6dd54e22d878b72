"""CelebA aligned faces with their 40 binary attributes and the official splits.

Expected in torchvision's layout under ``root`` or ``root/celeba``::

    img_align_celeba/000001.jpg ...     (178x218 aligned JPEGs)
    list_attr_celeba.txt                line 1: image count; line 2: the 40 attribute names;
                                        then "000001.jpg  -1  1 ..." (values 1 / -1)
    list_eval_partition.txt             "000001.jpg 0" (0 train, 1 valid, 2 test)

The text files are parsed here rather than by ``torchvision.datasets.CelebA``, which insists on
the official checksums; a missing or garbled file is a DataError naming the file and line.
Attributes are exposed as {0, 1} (1 where the file says 1).

Crops (``crop=``), each followed by a resize to ``image_size``:

- ``"default"``: the central 148x148 square;
- ``"original"``: the crop of the original Torch DFC-VAE code, a fixed 108x108 box at
  left=30, top=40 of the 178x218 aligned image;
- ``"none"``: the whole image, squashed to a square.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import DataError
from .images import open_image
from .preprocess import Prepare, center_square, check_crop, resize
from .source import Source, SourceItems, fingerprint_files

IMAGES_DIR = "img_align_celeba"
ATTRIBUTES_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
PARTITIONS = {"train": 0, "valid": 1, "test": 2}
CENTER_CROP = 148
ORIGINAL_BOX = (30, 40, 138, 148)  # left, top, right, bottom: 108x108
SOURCE_URL = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"


def celeba_source(root: Path | None, *, split: str, image_size: int, crop: str) -> Source:
    """The requested split of CelebA found under ``root`` (or ``root/celeba``)."""
    check_crop(crop, "celeba", ("default", "original", "none"))
    base = _find_base(root)
    text_files = [base / ATTRIBUTES_FILE, base / PARTITION_FILE]
    for path in text_files:
        if not path.is_file():
            raise DataError(f"celeba: missing {path}; {_layout_hint()}")
    images_dir = _images_dir(base)

    def read() -> SourceItems:
        names = [name for name, part in read_partition(text_files[1]) if part == PARTITIONS[split]]
        if not names:
            raise DataError(f"{text_files[1]} lists no images for the {split} split")
        attribute_names, rows = read_attributes(text_files[0])
        missing = [name for name in names if name not in rows]
        if missing:
            raise DataError(
                f"{text_files[0]} has no row for {missing[0]} ({len(missing)} image(s) of "
                f"{PARTITION_FILE} missing); use the attribute and partition files of one release"
            )
        return SourceItems(
            names=names,
            load=lambda i: open_image(images_dir / names[i]),
            labels=np.stack([rows[name] for name in names]),
            label_kind="attributes",
            label_names=attribute_names,
            prepare=_prepare(image_size, crop),
        )

    # Names, sizes and modification times of every image (one stat each, no reading), so an
    # image rewritten in place rebuilds the cache.
    with os.scandir(images_dir) as entries:
        images = sorted(Path(entry.path) for entry in entries if entry.is_file())
    return Source(
        fingerprint=fingerprint_files(text_files + images),
        read=read,
        flip=True,
        where=str(images_dir),
    )


def read_partition(path: Path) -> list[tuple[str, int]]:
    """``(file name, partition)`` pairs of list_eval_partition.txt, partition 0/1/2."""
    pairs = []
    for number, line in _lines(path):
        fields = line.split()
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DataError(
                f"{path.name} line {number}: expected '<file> 0|1|2', got {line.strip()[:60]!r}"
            )
        pairs.append((fields[0], int(fields[1])))
    return pairs


def read_attributes(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """Attribute names and, per file name, a uint8 ``(A,)`` {0, 1} row of list_attr_celeba.txt."""
    lines = list(_lines(path))
    if len(lines) < 2 or not lines[0][1].strip().isdigit():
        raise DataError(f"{path.name} line 1: expected the image count, then a line of names")
    names = lines[1][1].split()
    rows: dict[str, np.ndarray] = {}
    for number, line in lines[2:]:
        fields = line.split()
        if len(fields) != len(names) + 1:
            raise DataError(
                f"{path.name} line {number}: expected {len(names) + 1} fields, got {len(fields)}"
            )
        try:
            values = [int(value) for value in fields[1:]]
        except ValueError:
            raise DataError(
                f"{path.name} line {number}: attribute values must be 1 or -1"
            ) from None
        if any(value not in (-1, 0, 1) for value in values):
            raise DataError(f"{path.name} line {number}: attribute values must be 1 or -1")
        rows[fields[0]] = (np.asarray(values) > 0).astype(np.uint8)
    if int(lines[0][1]) != len(rows):
        raise DataError(
            f"{path.name} line 1: says {int(lines[0][1])} images but the file lists {len(rows)}; "
            "it is truncated or edited, fetch it again"
        )
    return names, rows


def _lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}") from None
    return [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _find_base(root: Path | None) -> Path:
    if root is None:
        raise DataError(f"celeba needs --data-root; {_layout_hint()}")
    for base in (root, root / "celeba"):
        if (base / ATTRIBUTES_FILE).exists() or (base / IMAGES_DIR).exists():
            return base
    raise DataError(f"celeba: no {ATTRIBUTES_FILE} or {IMAGES_DIR}/ in {root}; {_layout_hint()}")


def _images_dir(base: Path) -> Path:
    folder = base / IMAGES_DIR
    if (folder / IMAGES_DIR).is_dir():  # the Kaggle archive nests the folder in itself
        folder = folder / IMAGES_DIR
    if not folder.is_dir():
        raise DataError(f"celeba: missing image folder {folder}; {_layout_hint()}")
    return folder


def _prepare(image_size: int, crop: str) -> Prepare:
    if crop == "original":
        return lambda img: resize(img.crop(ORIGINAL_BOX), image_size)
    if crop == "none":
        return lambda img: resize(img, image_size)
    return lambda img: resize(center_square(img, CENTER_CROP), image_size)


def _layout_hint() -> str:
    return (
        f"it must hold {IMAGES_DIR}/, {ATTRIBUTES_FILE} and {PARTITION_FILE} "
        f"(torchvision's layout, from {SOURCE_URL})"
    )
