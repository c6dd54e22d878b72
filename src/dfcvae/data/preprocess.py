"""Geometric preprocessing applied once, when the cache is built: crops, padding, resizing.

Every dataset module picks its own recipe from these pieces (see ``crop`` in each module).
Resizing uses PIL's bicubic filter, which is antialiased when shrinking.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image, ImageOps

from .errors import DataError

Prepare = Callable[[Image.Image], Image.Image]
CROPS: tuple[str, ...] = ("default", "original", "none")


def check_crop(crop: str, dataset: str, allowed: tuple[str, ...] = ("default", "none")) -> None:
    """Raise DataError unless ``crop`` is one of ``allowed`` for ``dataset``."""
    if crop not in allowed:
        known = ", ".join(allowed)
        if crop == "original":
            raise DataError(
                f"crop 'original' is the original DFC-VAE CelebA crop and does not apply to "
                f"{dataset}; use one of {known}"
            )
        raise DataError(f"unknown crop {crop!r} for {dataset}; use one of {known}")


def resize(img: Image.Image, size: int) -> Image.Image:
    """Resize to ``size`` x ``size`` (bicubic, antialiased); no-op when already that size."""
    if img.size == (size, size):
        return img
    return img.resize((size, size), Image.Resampling.BICUBIC)


def center_square(img: Image.Image, side: int | None = None) -> Image.Image:
    """Crop the central ``side`` x ``side`` box (default: the shorter image side)."""
    width, height = img.size
    side = min(width, height) if side is None else min(side, width, height)
    left = (width - side) // 2
    top = (height - side) // 2
    return img.crop((left, top, left + side, top + side))


def fit_frame(img: Image.Image, width: int, height: int) -> Image.Image:
    """An image of another size made into a data set's ``width`` x ``height`` frame: the
    largest central box of the frame's shape, resized (bicubic). The data set's own images,
    already that size, are returned as they are, so their recipe applies unchanged."""
    if img.size == (width, height):
        return img
    w, h = img.size
    if w * height > h * width:  # wider than the frame: keep the full height
        box_w, box_h = max(1, round(h * width / height)), h
    else:
        box_w, box_h = w, max(1, round(w * height / width))
    left, top = (w - box_w) // 2, (h - box_h) // 2
    box = img.crop((left, top, left + box_w, top + box_h))
    return box.resize((width, height), Image.Resampling.BICUBIC)


def pad_to(img: Image.Image, size: int) -> Image.Image:
    """Pad a square image with zeros (black) on all sides up to ``size`` x ``size``.

    The margin is split evenly, the extra pixel going right/bottom: 28 -> 32 pads 2 each side.
    """
    width, height = img.size
    left, top = (size - width) // 2, (size - height) // 2
    border = (left, top, size - width - left, size - height - top)
    return ImageOps.expand(img, border=border, fill=0)
