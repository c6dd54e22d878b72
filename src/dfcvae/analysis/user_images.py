"""A user's own image file (``interpolate --left photo.jpg``, explorer uploads of a path) as a
run's model sees it, prepared as the run's data set prepares its own files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from dfcvae.data import prepare
from dfcvae.data.images import BadImage
from dfcvae.errors import ConfigError
from dfcvae.vae.run_config import RunConfig


class ResizedImageWarning(UserWarning):
    """An image file of another size than the model's, resized to fit."""


def read_image(path: str | Path, config: RunConfig) -> torch.Tensor:
    """A user's image file as the run's model sees it: (C, S, S) in [0, 1], prepared as the
    run's data set prepares its own files (``dfcvae.data.prepare``: EXIF orientation, the
    data set's crop, resize). A file of another size than the model's and the data set's
    files gets a ``ResizedImageWarning`` that says so."""
    path, data, model = Path(path), config.data, config.model
    size = model.image_size
    try:
        with Image.open(path) as header:
            width, height = header.size
        img = prepare.read_image(path, data.dataset, size, model.channels, data.crop)
    except (OSError, UnidentifiedImageError, BadImage) as error:
        raise ConfigError(f"{path}: not a readable image ({error})") from None
    if (width, height) not in ((size, size), prepare.native_size(data.dataset)):
        warnings.warn(
            f"{path}: {width}x{height} resized to the model's {size}x{size} "
            f"(cut as the {data.dataset} images are)",
            ResizedImageWarning,
            stacklevel=2,
        )
    pixels = np.asarray(img, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(pixels)
    return tensor.unsqueeze(0) if model.channels == 1 else tensor.permute(2, 0, 1).contiguous()
