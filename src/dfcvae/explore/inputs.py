"""Uploaded images, checked and then prepared exactly as a run's data pipeline prepares its files.

An upload is capped in bytes and in pixels before it is decoded (decompression bombs), must be
a JPEG, PNG or WebP, and is then decoded, converted to the run's channels and cropped/padded/
resized by the same pieces the cache builder uses (``dfcvae.data``), so an upload of a data
set's own file gives the very pixels of its cached image.
"""

from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from dfcvae.data import celeba, digits
from dfcvae.data.images import BadImage, open_image, to_channels
from dfcvae.data.preprocess import Prepare, center_square, resize
from dfcvae.errors import DFCVAEError
from dfcvae.run_config import RunConfig

FORMATS = ("JPEG", "PNG", "WEBP")
MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 50_000_000  # a 48-megapixel phone photo fits; PIL's own bomb limit is ~89M


class UploadError(DFCVAEError):
    """An upload that is not a usable JPEG, PNG or WebP image; the message says why and
    ``status`` is the HTTP status to answer with (413 too large, 415 not an image, else 400)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def decode_upload(
    data: bytes, scratch: str | Path, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS
) -> Image.Image:
    """The uploaded bytes as a fully decoded PIL image (EXIF orientation applied).

    Checks the size in bytes, the format and the width x height from the header before any
    pixel is decoded. scratch: a temporary folder where the bytes are kept while decoding.
    Raises UploadError with a message for the page.
    """
    if not data:
        raise UploadError("the file is empty")
    if len(data) > max_bytes:
        raise UploadError(f"the file has {len(data):,} bytes; the limit is {max_bytes:,}", 413)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as header:
                width, height = header.size
    except UnidentifiedImageError:
        raise UploadError("not a JPEG, PNG or WebP image", 415) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        message = f"the image has too many pixels; the limit is {max_pixels:,}"
        raise UploadError(message, 413) from None
    except Exception as error:  # noqa: BLE001 -- PIL plugins raise many types on corrupt data
        raise UploadError(f"a broken image ({type(error).__name__}: {error})") from None
    if width * height > max_pixels:
        raise UploadError(
            f"the image has {width}x{height} = {width * height:,} pixels; "
            f"the limit is {max_pixels:,}",
            413,
        )
    # open_image is the data pipeline's decoder (EXIF, bombs, truncated files); it reads a path.
    with tempfile.NamedTemporaryFile(dir=scratch, suffix=".upload") as file:
        file.write(data)
        file.flush()
        try:
            return open_image(Path(file.name))
        except BadImage as error:
            raise UploadError(f"a broken image ({error})") from None


def preparation(config: RunConfig) -> Prepare:
    """The crop/pad/resize that the run's data set applies after the channel conversion."""
    data, size = config.data, config.model.image_size
    if data.dataset == "celeba":
        return celeba.prepare(size, data.crop)
    if data.dataset in digits.DIGITS:
        return digits.prepare(size, data.crop)
    if data.dataset == "folder" and data.crop == "default":
        return lambda img: resize(center_square(img), size)
    return lambda img: resize(img, size)  # cifar10, stl10, a folder with crop none


def prepare_image(img: Image.Image, config: RunConfig) -> torch.Tensor:
    """A decoded image as the run's model sees it: (C, S, S) float32 in [0, 1]."""
    channels = config.model.channels
    return to_tensor(preparation(config)(to_channels(img, channels)), channels)


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
