"""Which images and which random draws an analysis takes: a split by name, a count, a seeded
choice of indices, and the images at them. Everything is seeded on the CPU, so the same seed
picks the same images and draws on every device."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dfcvae.data.splits import SPLITS
from dfcvae.errors import ConfigError


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ConfigError(f"--split {split!r}: choose one of {', '.join(SPLITS)}")


def check_count(n: int, option: str = "--n") -> int:
    if n < 1:
        raise ConfigError(f"{option} {n}: must be at least 1")
    return n


def generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``: random draws that do not depend on the device."""
    return torch.Generator().manual_seed(int(seed))


def choose_indices(size: int, n: int, seed: int) -> list[int]:
    """``min(n, size)`` distinct indices in [0, size), a seeded random choice in sorted order."""
    check_count(n)
    if size < 1:
        raise ConfigError("the split holds no images")
    order = torch.randperm(size, generator=generator(seed))[: min(n, size)]
    return sorted(order.tolist())


def stack_images(dataset, indices: Sequence[int]) -> torch.Tensor:
    """The dataset items at ``indices`` as one (n, C, H, W) tensor in [0, 1]."""
    return torch.stack([dataset[int(i)][0] for i in indices])
