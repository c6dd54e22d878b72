"""Uploaded images, checked and then prepared exactly as a run's data pipeline prepares its files.

An upload is capped in bytes, in pixels and in the bytes its decoded pixels take before it is
decoded (decompression bombs, 16-bit images), must be a JPEG, PNG or WebP, and is then decoded
(a large one straight down to a working size) and prepared by the function the cache build
uses (``dfcvae.data.prepare``), so an upload of a data set's own file gives the very pixels of
its cached image.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from dfcvae.data.images import load_upright
from dfcvae.data.prepare import prepare_image as prepare
from dfcvae.errors import DFCVAEError
from dfcvae.vae.run_config import RunConfig

FORMATS = ("JPEG", "PNG", "WEBP")
MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 50_000_000  # a 48-megapixel phone photo fits; PIL's own bomb limit is ~89M
# Decoded pixels of one upload: 50 megapixels of RGBA, 100 of 16-bit grey. A JPEG counts at
# the scale it is decoded at (see ``check_size``).
MAX_IMAGE_BYTES = 200_000_000


class UploadError(DFCVAEError):
    """An upload that is not a usable JPEG, PNG or WebP image; the message says why and
    ``status`` is the HTTP status to answer with (413 too large, 415 not an image, else 400)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def stored_bytes(mode: str) -> int:
    """Bytes PIL keeps per pixel of an image in ``mode`` (bit depth x channels, rounded up to
    its storage: 1 for 1/L/P, 2 for 16-bit grey, 4 for every other mode, RGB included)."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def decode_upload(
    data: bytes,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    max_image_bytes: int = MAX_IMAGE_BYTES,
    shrink_to: int | None = None,
) -> Image.Image:
    """The uploaded bytes as a decoded PIL image (EXIF orientation applied).

    Checks the size in bytes, the format, the width x height and the memory the decoded
    pixels take (``stored_bytes`` each) from the header, before any pixel is decoded.
    shrink_to: the shorter side to keep; a larger image is decoded or averaged down first
    (``dfcvae.data.images.load_upright``), so no full-size copy is ever converted.
    Raises UploadError with a message for the page.
    """
    if not data:
        raise UploadError("the file is empty")
    if len(data) > max_bytes:
        raise UploadError(f"the file has {len(data):,} bytes; the limit is {max_bytes:,}", 413)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as img:
                check_size(img, max_pixels, max_image_bytes, shrink_to)
                return load_upright(img, shrink_to)
    except UnidentifiedImageError:
        raise UploadError("not a JPEG, PNG or WebP image", 415) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        message = f"the image has too many pixels; the limit is {max_pixels:,}"
        raise UploadError(message, 413) from None
    except UploadError:
        raise
    except Exception as error:  # noqa: BLE001 -- PIL plugins raise many types on corrupt data
        raise UploadError(f"a broken image ({type(error).__name__}: {error})") from None


def check_size(
    img: Image.Image, max_pixels: int, max_image_bytes: int, shrink_to: int | None
) -> None:
    """Refuse (413) an opened, undecoded image with too many pixels, or whose pixels would
    take more than ``max_image_bytes`` once decoded (a JPEG at the scale it will be decoded)."""
    width, height = img.size
    if width * height > max_pixels:
        raise UploadError(
            f"the image has {width}x{height} = {width * height:,} pixels; "
            f"the limit is {max_pixels:,}",
            413,
        )
    if shrink_to is not None:
        img.draft(None, (shrink_to, shrink_to))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
    width, height = img.size
    size = width * height * stored_bytes(img.mode)
    if size > max_image_bytes:
        raise UploadError(
            f"the image decodes to {width}x{height} {img.mode} pixels = {size:,} bytes; "
            f"the limit is {max_image_bytes:,}",
            413,
        )


def prepare_image(img: Image.Image, config: RunConfig) -> torch.Tensor:
    """A decoded image as the run's model sees it: (C, S, S) float32 in [0, 1], prepared by
    the run's data set's own recipe (``dfcvae.data.prepare``)."""
    data, model = config.data, config.model
    prepared = prepare(img, data.dataset, model.image_size, model.channels, data.crop)
    return to_tensor(prepared, model.channels)


def to_tensor(img: Image.Image, channels: int) -> torch.Tensor:
    """An 8-bit L or RGB PIL image -> (C, H, W) float32 in [0, 1], as the data set's items."""
    pixels = np.asarray(img, dtype=np.uint8).reshape(img.size[1], img.size[0], channels)
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).float().div_(255.0)


def to_pil(image: torch.Tensor) -> Image.Image:
    """(C, H, W) in [0, 1] -> an 8-bit L or RGB PIL image."""
    pixels = image.detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)


def png_bytes(image: torch.Tensor) -> bytes:
    """(C, H, W) in [0, 1] as PNG bytes."""
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG")
    return buffer.getvalue()
