"""One way to prepare an image for a data set, wherever the image comes from.

The cache build, an upload to ``dfcvae explore`` and every "your own image" option
(``interpolate --left/--right photo.jpg``) go through the same steps: decode with the EXIF
orientation applied (``images.open_image``/``load_upright``), convert to the run's channels
(``images.to_channels``), then the data set's own recipe, one function per data set
(``celeba.prepare``, ``digits.prepare``, ``folder.prepare``, ``torchvision_sets.prepare``):
crop or pad and resize. Each recipe first makes an image of another size than the data set's
files into their frame (CelebA's 178x218, the digits' 28x28, a central square), so a user's
photo is cut like the data set's images, and the data set's own files give their cached pixels.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image

from . import celeba, digits, folder, torchvision_sets
from .errors import DataError
from .images import BadImage, load_upright, to_channels
from .preprocess import Prepare

# Shrink a user's file on decoding to this many times the model's side (at least 256 pixels).
WORK_FACTOR, WORK_MIN = 4, 256


def preparation(dataset: str, image_size: int, crop: str = "default") -> Prepare:
    """The data set's recipe after the channel conversion: the same function its cache uses."""
    if dataset == "celeba":
        return celeba.prepare(image_size, crop)
    if dataset in digits.DIGITS:
        return digits.prepare(image_size, crop)
    if dataset in torchvision_sets.TORCHVISION_SETS:
        return torchvision_sets.prepare(image_size)
    if dataset == "folder":
        return folder.prepare(image_size, crop)
    raise DataError(f"unknown dataset {dataset!r}")


def prepare_image(
    img: Image.Image, dataset: str, image_size: int, channels: int, crop: str = "default"
) -> Image.Image:
    """A decoded, upright image as the data set's cache holds it: 8-bit L (``channels`` 1) or
    RGB (3), ``image_size`` square."""
    return preparation(dataset, image_size, crop)(to_channels(img, channels))


def native_size(dataset: str) -> tuple[int, int] | None:
    """The width and height of the data set's own files, where they all have one."""
    if dataset == "celeba":
        return celeba.FRAME
    if dataset in digits.DIGITS:
        return (digits.NATIVE_SIZE, digits.NATIVE_SIZE)
    return None


def work_side(image_size: int) -> int:
    """The shorter side a user's image is decoded down to before it is prepared."""
    return max(WORK_MIN, WORK_FACTOR * image_size)


def read_image(
    path: str | Path, dataset: str, image_size: int, channels: int, crop: str = "default"
) -> Image.Image:
    """A user's image file prepared as ``dataset``'s images (``prepare_image``), after its EXIF
    orientation; a large one is decoded down to ``work_side`` first. Raises BadImage."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                upright = load_upright(img, work_side(image_size))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise BadImage(f"decompression bomb ({error})") from None
    except Exception as error:  # noqa: BLE001 -- PIL plugins raise many types on corrupt data
        raise BadImage(f"{type(error).__name__}: {error}") from None
    return prepare_image(upright, dataset, image_size, channels, crop)
