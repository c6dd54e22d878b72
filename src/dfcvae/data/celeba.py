"""CelebA aligned faces with their 40 binary attributes and the official splits.

Found under ``root`` or ``root/celeba`` in either layout, told apart by the files' suffixes
(``celeba_files`` parses and checks them)::

    torchvision's (the CelebA site's files)     Kaggle's archive
    img_align_celeba/000001.jpg ...             img_align_celeba/img_align_celeba/000001.jpg ...
    list_attr_celeba.txt                        list_attr_celeba.csv
    list_eval_partition.txt                     list_eval_partition.csv

The images are the 178x218 aligned JPEGs. The files are parsed here rather than by
``torchvision.datasets.CelebA``, which insists on the official checksums and the .txt files; a
missing or garbled file is a DataError naming the file and line. Attributes are exposed as
{0, 1} (1 where the file says 1).

Crops (``crop=``), each followed by a resize to ``image_size``:

- ``"default"``: the central 148x148 square;
- ``"original"``: the crop of the original Torch DFC-VAE code (``data/crop_celebA.lua``:
  ``image.crop(im, 30, 40, 30 + 138, 40 + 138)``, whose arguments are corners), the 138x138 box
  left 30, top 40, right 168, bottom 178 of the 178x218 aligned image;
- ``"none"``: the whole image, squashed to a square.
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from .celeba_files import ATTRIBUTE_STEM, PARTITION_STEM, SUFFIXES, find_file, split_labels
from .errors import DataError
from .images import open_image
from .preprocess import Prepare, center_square, check_crop, fit_frame, resize
from .source import Source, SourceItems, fingerprint_files

IMAGES_DIR = "img_align_celeba"
CENTER_CROP = 148
ORIGINAL_BOX = (30, 40, 168, 178)  # left, top, right, bottom: 138x138
FRAME = (178, 218)  # the aligned images' width and height
SOURCE_URL = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"


def celeba_source(root: Path | None, *, split: str, image_size: int, crop: str) -> Source:
    """The requested split of CelebA found under ``root`` (or ``root/celeba``)."""
    check_crop(crop, "celeba", ("default", "original", "none"))
    base = _find_base(root)
    text_files = []
    for stem in (ATTRIBUTE_STEM, PARTITION_STEM):
        path = find_file(base, stem)
        if path is None:
            raise DataError(f"celeba: missing {base / stem}.txt (or .csv); {_layout_hint()}")
        text_files.append(path)
    images_dir = _images_dir(base)

    def read() -> SourceItems:
        names, attribute_names, labels = split_labels(text_files[0], text_files[1], split)
        return SourceItems(
            names=names,
            load=lambda i: open_image(images_dir / names[i]),
            labels=labels,
            label_kind="attributes",
            label_names=attribute_names,
            prepare=prepare(image_size, crop),
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


def _find_base(root: Path | None) -> Path:
    if root is None:
        raise DataError(f"celeba needs --data-root; {_layout_hint()}")
    for base in (root, root / "celeba"):
        if find_file(base, ATTRIBUTE_STEM) or (base / IMAGES_DIR).exists():
            return base
    raise DataError(
        f"celeba: no {ATTRIBUTE_STEM}.txt, {ATTRIBUTE_STEM}.csv or {IMAGES_DIR}/ in {root}; "
        f"{_layout_hint()}"
    )


def _images_dir(base: Path) -> Path:
    folder = base / IMAGES_DIR
    if (folder / IMAGES_DIR).is_dir():  # the Kaggle archive nests the folder in itself
        folder = folder / IMAGES_DIR
    if not folder.is_dir():
        raise DataError(f"celeba: missing image folder {folder}; {_layout_hint()}")
    return folder


def original_crop(img: Image.Image) -> Image.Image:
    """The original code's 138x138 box (left 30, top 40, right 168, bottom 178)."""
    return img.crop(ORIGINAL_BOX)


def prepare(image_size: int, crop: str) -> Prepare:
    """The crop (``"default"``, ``"original"`` or ``"none"``), then a resize to ``image_size``.

    An image of another size than the aligned 178x218 (a user's photo) is first made into
    that frame (``fit_frame``), so the boxes cut the same part of it."""
    if crop == "original":
        return lambda img: resize(original_crop(fit_frame(img, *FRAME)), image_size)
    if crop == "none":
        return lambda img: resize(fit_frame(img, *FRAME), image_size)
    return lambda img: resize(center_square(fit_frame(img, *FRAME), CENTER_CROP), image_size)


def _layout_hint() -> str:
    files = " and ".join(f"{stem}{'/'.join(SUFFIXES)}" for stem in (ATTRIBUTE_STEM, PARTITION_STEM))
    return (
        f"it must hold {IMAGES_DIR}/, {files} (torchvision's .txt layout from {SOURCE_URL}, or "
        "the Kaggle archive's .csv layout)"
    )
