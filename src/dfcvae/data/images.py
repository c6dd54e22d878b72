"""Decode one image file into a clean 8-bit grayscale ("L") or RGB PIL image.

Bad files raise :class:`BadImage` so the cache builder can skip them:
zero-byte, truncated, corrupt or non-image files (e.g. text named ``.png``), and
decompression bombs -- PIL's ``DecompressionBombError`` and also its
``DecompressionBombWarning`` (more than ``Image.MAX_IMAGE_PIXELS`` pixels), which we treat
as an error because nobody wants a 90-megapixel file silently decoded into a 64x64 thumbnail.

Mode conversion (after applying the EXIF orientation with ``ImageOps.exif_transpose``):

- ``1`` (bilevel), ``L``, ``P`` and ``RGB`` convert directly; a palette image with a
  transparency entry goes through RGBA first.
- Any alpha (``LA``, ``La``, ``PA``, ``RGBA``, ``RGBa``, transparent ``P``) is composited
  **on black**, matching the zero padding used elsewhere.
- ``CMYK``, ``YCbCr``, ``LAB``, ``HSV`` convert to RGB through PIL.
- 16-bit (``I;16``, ``I;16B``, ``I;16L``) and 32-bit integer (``I``) images are scaled from the
  16-bit range 0..65535 to 0..255 (divide by 257, round), never clipped at 255; ``I`` values
  outside 0..65535 are clipped to it first. Float (``F``) images are taken as 0..1 when their
  maximum is at most 1, otherwise as 0..255.
- Finally ``channels=1`` gives ``L`` (ITU-R 601-2 luma) and ``channels=3`` gives ``RGB``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
)
STRIP_BYTES = 8 * 1024 * 1024  # what one strip of a shrinking image may take, roughly


class BadImage(Exception):
    """A file that cannot be used as an image; the message says why."""


def open_image(path: Path) -> Image.Image:
    """Fully decode the file at ``path`` (first frame) with its EXIF orientation applied.

    Raises BadImage for anything unreadable, including decompression bombs.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return load_upright(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise BadImage(f"decompression bomb ({err})") from None
    except UnidentifiedImageError:
        size = path.stat().st_size if path.exists() else -1
        raise BadImage("empty file" if size == 0 else "not an image") from None
    except Exception as err:  # noqa: BLE001 -- PIL plugins raise many types on corrupt data
        raise BadImage(f"{type(err).__name__}: {err}") from None


def load_upright(img: Image.Image, shrink_to: int | None = None) -> Image.Image:
    """Decode an opened image (first frame) and turn it as its EXIF orientation says.

    shrink_to: for a picture that only has to become a small one, a shorter side to keep:
    a JPEG is decoded at the smallest of 1/2, 1/4 or 1/8 scale that keeps it (``draft``),
    any other image is box-averaged down by the largest whole factor that keeps it, before
    anything else is done to it. Memory then stays near that of the decoded file, and the
    orientation and mode conversions work on the small image. None: the full image.
    """
    if shrink_to is not None:
        img.draft(None, (shrink_to, shrink_to))
    img.load()
    if shrink_to is not None:
        img = _shrink(img, shrink_to)
    return _upright(img)


def _shrink(img: Image.Image, side: int) -> Image.Image:
    """Box-average down by the largest whole factor that keeps the shorter side >= ``side``
    (``Image.reduce``), a strip of rows at a time: whatever conversion the mode needs first
    (palette to colours, 16-bit to 32-bit, alpha premultiplied) copies a strip, never the
    whole image. The strips' heights are multiples of the factor, so the result is the same
    as reducing the whole image at once."""
    factor = min(img.size) // side
    if factor < 2:
        return img
    width, height = img.size
    rows = max(1, STRIP_BYTES // (8 * width * factor)) * factor
    small = None
    for top in range(0, height, rows):
        strip = _reducible(img.crop((0, top, width, min(height, top + rows)))).reduce(factor)
        if small is None:
            small = Image.new(strip.mode, (-(-width // factor), -(-height // factor)))
        small.paste(strip, (0, top // factor))
    small.info = dict(img.info)  # the EXIF block, for the orientation
    return small


def _reducible(img: Image.Image) -> Image.Image:
    """``img`` in a mode ``Image.reduce`` takes (averaging palette indices means nothing)."""
    if img.mode == "1":
        return img.convert("L")
    if img.mode == "P":
        return img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode.startswith("I;16"):
        return img.convert("I")
    return img


def _upright(img: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says; unturned if the EXIF block is broken."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 -- a garbled EXIF block should not cost a good image
        return img.copy()


def to_channels(img: Image.Image, channels: int) -> Image.Image:
    """Convert any PIL mode to 8-bit ``L`` (channels=1) or ``RGB`` (channels=3); see module doc."""
    img = _to_8bit(img)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        img = _composite_on_black(img)
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    target = "L" if channels == 1 else "RGB"
    return img if img.mode == target else img.convert(target)


def _to_8bit(img: Image.Image) -> Image.Image:
    """Scale 16/32-bit integer and float images to 8-bit ``L``; leave others alone."""
    if img.mode.startswith("I"):
        # round(v / 257) in integers: (v + 128) // 257 (257 is odd, so there are no ties),
        # 4 bytes a pixel where float64 took 8 for each of several copies.
        values = np.asarray(img).astype(np.int32)
        np.clip(values, 0, 65535, out=values)
        values += 128
        values //= 257
        return Image.fromarray(values.astype(np.uint8))
    if img.mode == "F":
        values = np.asarray(img).astype(np.float64)
        values = values * 255.0 if values.size and np.nanmax(values) <= 1.0 else values
    else:
        return img.convert("L") if img.mode == "1" else img
    values = np.nan_to_num(values, nan=0.0)
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


def _composite_on_black(img: Image.Image) -> Image.Image:
    """Premultiply by alpha, i.e. composite over a black background; returns L or RGB."""
    gray = img.mode in ("LA", "La")
    rgba = img.convert("RGBA")
    flat = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
    return flat.convert("L" if gray else "RGB")
