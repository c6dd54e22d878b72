"""Image tensors to PNG grids (torchvision ``make_grid``), written atomically."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image

from dfcvae.files import atomic_write

PADDING = 2


def save_grid(grid: torch.Tensor, path: str | Path) -> Path:
    """A (C, H, W) image in [0, 1] as a PNG file."""
    return atomic_write(path, lambda tmp: save_image(grid, tmp, format="png"))


def image_grid(images: torch.Tensor, nrow: int = 8) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] -> one (3, H', W') grid, ``nrow`` images per row."""
    return make_grid(images.clamp(0, 1), nrow=max(1, nrow), padding=PADDING, pad_value=1.0)


def rows_grid(images: torch.Tensor) -> torch.Tensor:
    """(R, S, C, H, W): R rows of S images (interpolations, edits) -> one grid."""
    return image_grid(images.flatten(0, 1), nrow=images.shape[1])


def paired_rows_grid(top: torch.Tensor, bottom: torch.Tensor, nrow: int = 8) -> torch.Tensor:
    """Each row of ``top`` (N, C, H, W) with the matching row of ``bottom`` under it: inputs
    above their reconstructions. A short last row is padded with white images."""
    width = min(nrow, top.shape[0])
    pad = (-top.shape[0]) % width
    if pad:
        blank = torch.ones(pad, *top.shape[1:], dtype=top.dtype)
        top, bottom = torch.cat([top, blank]), torch.cat([bottom, blank])
    rows = []
    for start in range(0, top.shape[0], width):
        rows += [top[start : start + width], bottom[start : start + width]]
    return image_grid(torch.cat(rows), nrow=width)
