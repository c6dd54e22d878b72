"""KL collapse, measured: active latent units, the KL per image, and the spread of reconstructions.

A VAE whose KL term is weighed too heavily lets the posterior q(z|x) fall back onto the prior:
the encoder's mean stops depending on the image, and the decoder draws the same average image for
every input. Two measures see it:

- ``active_units`` (Burda, Grosse and Salakhutdinov 2016): the latent dimensions u whose
  Cov_x(E_q[z_u | x]) exceeds 0.01. A collapsed code has none.
- ``reconstruction_spread``: the variance across images of the reconstructions, as a fraction of
  the inputs' own. A decoder that ignores its code gives nearly 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dfcvae.vae.losses import kl_per_image

ACTIVE_THRESHOLD = 0.01
# Collapse sets in when no latent unit is active, or when the reconstructions of a batch keep
# less than 10% of its variance across images. docs/loss-scale.md has the runs that set both.
MIN_ACTIVE_UNITS = 1
MIN_SPREAD = 0.10


def unit_activity(mu: torch.Tensor) -> torch.Tensor:
    """Variance across images of each latent unit's posterior mean: (N, D) -> (D,)."""
    return mu.float().var(dim=0, unbiased=True)


def active_units(mu: torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> int:
    """How many latent units are active: Cov_x(E_q[z_u | x]) > ``threshold``. mu: (N, D), N >= 2."""
    return int((unit_activity(mu) > threshold).sum())


def reconstruction_spread(recon: torch.Tensor, x: torch.Tensor) -> float:
    """Variance across images of the reconstructions over that of the inputs (per pixel, then
    averaged): (N, C, H, W) both. 1 keeps the batch's diversity, 0 draws one image for all."""
    recon_var = recon.float().var(dim=0).mean()
    x_var = x.float().var(dim=0).mean()
    return float(recon_var / x_var.clamp_min(1e-12))


@dataclass(frozen=True)
class LatentUsage:
    """What one batch (or split) says about collapse."""

    active_units: int
    latent_dim: int
    kl_per_image: float
    spread: float

    @property
    def collapsed(self) -> bool:
        return self.active_units < MIN_ACTIVE_UNITS or self.spread < MIN_SPREAD

    def describe(self) -> str:
        return (
            f"{self.active_units} of {self.latent_dim} latent units active, KL "
            f"{self.kl_per_image:.3g} per image, reconstructions keep {self.spread:.0%} of the "
            "images' variance"
        )


def latent_usage(
    mu: torch.Tensor, logvar: torch.Tensor, recon: torch.Tensor, x: torch.Tensor
) -> LatentUsage:
    """The collapse measures of one batch: mu, logvar (N, D); recon, x (N, C, H, W) in [0, 1]."""
    return LatentUsage(
        active_units=active_units(mu),
        latent_dim=mu.shape[1],
        kl_per_image=float(kl_per_image(mu, logvar).mean()),
        spread=reconstruction_spread(recon, x),
    )
