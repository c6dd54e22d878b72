"""Images from a trained run: reconstructions, samples and latent interpolations (Figs. 3-5).

Each function returns image tensors in [0, 1]; ``dfcvae.report.images`` lays them out in grids
and writes PNG files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from dfcvae.analysis.latent_prior import DEFAULT_SAMPLER, Sampler, make_sampler
from dfcvae.analysis.latents import decode, encode
from dfcvae.analysis.runs import RunLike, open_run
from dfcvae.analysis.selection import (
    check_count,
    check_split,
    choose_indices,
    generator,
    stack_images,
)
from dfcvae.analysis.user_images import read_image
from dfcvae.errors import ConfigError

Endpoint = int | str | Path


@dataclass
class Reconstruction:
    """inputs and reconstructions: (n, C, H, W) in [0, 1]; indices: the images in the split."""

    inputs: torch.Tensor
    reconstructions: torch.Tensor
    indices: list[int]


def reconstruct(
    run: RunLike,
    split: str = "test",
    n: int = 32,
    *,
    indices: Sequence[int] | None = None,
    device: str = "cpu",
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> Reconstruction:
    """Encode ``n`` images of ``split`` (a seeded random choice, or ``indices``) and decode mu."""
    check_split(split)
    run = open_run(run, device)
    dataset = run.dataset(split, progress=progress)
    if indices is None:
        indices = choose_indices(len(dataset), check_count(n), seed)
    else:
        indices = [check_index(int(i), len(dataset), split) for i in indices]
    inputs = stack_images(dataset, indices)
    recon = decode(run.model, encode(run.model, inputs, batch_size), batch_size)
    return Reconstruction(inputs, recon, list(indices))


def check_temperature(temperature: float) -> float:
    if not temperature >= 0:
        raise ConfigError(f"--temperature {temperature}: must be >= 0 (the original code used 0.4)")
    return float(temperature)


def prior_codes(n: int, latent_dim: int, temperature: float, seed: int) -> torch.Tensor:
    """z ~ N(0, T^2 I): (n, latent_dim), the same for a given seed on every device."""
    z = torch.randn(n, latent_dim, generator=generator(seed))
    return z * check_temperature(temperature)


def sampler_codes(sampler: Sampler, n: int, temperature: float, seed: int) -> torch.Tensor:
    """``n`` codes from ``sampler`` at temperature T, the same for a given seed on every device;
    for the ``standard`` sampler the same codes as ``prior_codes``."""
    return sampler.draw(check_count(n), check_temperature(temperature), generator(seed))


def sample(
    run: RunLike,
    n: int = 64,
    temperature: float = 1.0,
    *,
    sampler: str | Sampler = DEFAULT_SAMPLER,
    device: str = "cpu",
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> torch.Tensor:
    """n images decoded from codes of ``sampler`` at temperature T: (n, C, H, W) in [0, 1].

    sampler: ``standard`` (z ~ N(0, T^2 I), the paper's), ``fitted`` (the density fitted to the
    train split's mu, fitted once and kept in RUN/analysis/; see ``latent_prior``) or an object
    with ``draw(n, temperature, generator)``. The original code's generator used T = 0.4; the
    paper's figures use T = 1."""
    run = open_run(run, device)
    if isinstance(sampler, str):
        sampler = make_sampler(run, sampler, device=device, progress=progress)
    z = sampler_codes(sampler, n, temperature, seed)
    return decode(run.model, z, batch_size)


def lerp(z_left: torch.Tensor, z_right: torch.Tensor, steps: int) -> torch.Tensor:
    """(1 - a) z_left + a z_right for a in linspace(0, 1, steps): (R, D) twice -> (R, steps, D)."""
    alpha = torch.linspace(0, 1, steps, dtype=z_left.dtype).view(1, -1, 1)
    return (1 - alpha) * z_left.unsqueeze(1) + alpha * z_right.unsqueeze(1)


def slerp(z_left: torch.Tensor, z_right: torch.Tensor, steps: int) -> torch.Tensor:
    """Spherical interpolation along the great circle between the codes (their norms are
    interpolated linearly): (R, D) twice -> (R, steps, D); falls back to ``lerp`` when the two
    codes are (anti)parallel."""
    alpha = torch.linspace(0, 1, steps, dtype=z_left.dtype).view(1, -1, 1)
    a, b = z_left.unsqueeze(1), z_right.unsqueeze(1)
    norm_a, norm_b = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    unit_a, unit_b = a / norm_a.clamp_min(1e-12), b / norm_b.clamp_min(1e-12)
    omega = torch.acos((unit_a * unit_b).sum(-1, keepdim=True).clamp(-1, 1))
    sin_omega = torch.sin(omega)
    direction = (torch.sin((1 - alpha) * omega) * unit_a + torch.sin(alpha * omega) * unit_b) / (
        sin_omega.clamp_min(1e-12)
    )
    spherical = direction * ((1 - alpha) * norm_a + alpha * norm_b)
    return torch.where(sin_omega.abs() < 1e-6, lerp(z_left, z_right, steps), spherical)


def check_index(index: int, size: int, split: str) -> int:
    if not 0 <= index < size:
        raise ConfigError(f"image index {index} is outside the {split} split (0..{size - 1})")
    return index


def endpoint_images(run, endpoints: Sequence[Endpoint], split: str) -> torch.Tensor:
    """Endpoints given as data-set indices (ints or digit strings) or image paths: (R, C, S, S)."""
    dataset = None
    images = []
    for item in endpoints:
        if isinstance(item, int) or (isinstance(item, str) and item.isascii() and item.isdigit()):
            if dataset is None:
                dataset = run.dataset(split)
            index = check_index(int(item), len(dataset), split)
            images.append(dataset[index][0])
        else:
            images.append(read_image(item, run.config))
    return torch.stack(images)


def interpolate(
    run: RunLike,
    left: Sequence[Endpoint] | None = None,
    right: Sequence[Endpoint] | None = None,
    *,
    steps: int = 10,
    rows: int = 4,
    spherical: bool = False,
    split: str = "test",
    temperature: float = 1.0,
    sampler: str | Sampler = DEFAULT_SAMPLER,
    device: str = "cpu",
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> torch.Tensor:
    """Decoded latent interpolations from z_left to z_right: (R, steps, C, H, W) in [0, 1].

    left, right: R endpoints each (data-set indices in ``split`` or image paths), encoded to mu;
    when both are None, R = ``rows`` pairs of random codes from ``sampler`` at temperature T
    (the paper's last row; as in ``sample``: ``fitted`` by default, ``standard`` for the paper's
    z ~ N(0, T^2 I)). spherical: slerp instead of the paper's linear (1 - a) z_left + a z_right.
    """
    check_split(split)
    if check_count(steps, "--steps") < 2:
        raise ConfigError(f"--steps {steps}: an interpolation needs at least 2 steps")
    run = open_run(run, device)
    if (left is None) != (right is None):
        raise ConfigError("give both --left and --right endpoints, or neither (random codes)")
    if left is not None and right is not None:
        if len(left) != len(right) or not left:
            raise ConfigError(
                f"--left has {len(left)} endpoints and --right {len(right)}: give one right "
                "endpoint per left one"
            )
        z_left = encode(run.model, endpoint_images(run, left, split), batch_size)
        z_right = encode(run.model, endpoint_images(run, right, split), batch_size)
    else:
        n = 2 * check_count(rows, "--rows")
        if isinstance(sampler, str):
            check_temperature(temperature)  # before a fit, which can take minutes on a CPU
            sampler = make_sampler(run, sampler, device=device, progress=progress)
        codes = sampler_codes(sampler, n, temperature, seed)
        z_left, z_right = codes[0::2], codes[1::2]
    path = (slerp if spherical else lerp)(z_left, z_right, steps)
    images = decode(run.model, path.flatten(0, 1), batch_size)
    return images.view(path.shape[0], steps, *images.shape[1:])
