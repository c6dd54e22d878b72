"""The DFC-VAE objective: total = alpha * KL + beta * reconstruction.

Reductions (the most asked-about point in other ports; docs/loss-scale.md derives the defaults):
- ``kl_divergence``: summed over latent dimensions, averaged over the batch. With
  ``loss.kl_reduction = "sum"`` (the feature presets) the total uses it times the batch size:
  summed over the batch, as the original code's KLDCriterion.
- ``pixel_loss``: squared error (or BCE) summed over pixels of an image, averaged over the batch
  (PVAE); the ``mix`` reconstruction uses its per-element mean instead (seed 004).
- ``feature_loss`` (``dfcvae.vae.perceptual``, run by ``PerceptualLoss``): for each loss-network
  layer l, mean((s * phi_l(x) - s * phi_l(x_hat))^2) over every element (batch, channel,
  height, width), weighted by w_l and summed over layers; s is the loss network's feature scale
  (VGG19: the Caffe input scale of the original code).
- ``ssim_colour_loss``: (1 - mean SSIM) + colour_weight * mean squared error of 3x3
  average-pooled images (seed 003).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.functional.image import structural_similarity_index_measure

from dfcvae.loss_networks import LossNetwork, build_loss_network
from dfcvae.vae.loss_config import LossConfig
from dfcvae.vae.model import VAEOutput
from dfcvae.vae.perceptual import PerceptualLoss, feature_loss

__all__ = [
    "DFCVAELoss",
    "LossTerms",
    "feature_loss",
    "in_fp32",
    "kl_divergence",
    "kl_per_image",
    "pixel_loss",
    "ssim_colour_loss",
]

Term = TypeVar("Term", bound=Callable[..., torch.Tensor])


def _to_fp32(value):  # noqa: ANN001, ANN202 - tensors, lists, anything else
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        return type(value)(_to_fp32(v) for v in value)
    return value


def in_fp32(term: Term) -> Term:
    """A loss term computed in fp32 whatever the surrounding autocast: its floating-point tensor
    arguments (also inside lists) are cast to float32 and autocast is off on their device while
    it runs. Under bf16 autocast, SSIM's E[x^2] - mu^2 would otherwise lose most of its
    precision. Gradients flow back through the casts in the input's own dtype. (The feature
    term is taken in fp32 by ``perceptual.feature_loss``.)"""

    @functools.wraps(term)
    def fp32_term(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        args = _to_fp32(args)
        kwargs = {k: _to_fp32(v) for k, v in kwargs.items()}
        tensors = [v for v in (*args, *kwargs.values()) if isinstance(v, torch.Tensor)]
        tensors += [t for v in (*args, *kwargs.values()) if isinstance(v, list) for t in v]
        with torch.autocast(device_type=tensors[0].device.type, enabled=False):
            return term(*args, **kwargs)

    return fp32_term


@in_fp32
def kl_per_image(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) of each image, summed over latent dims: (N, D) -> (N,)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)


@in_fp32
def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)), summed over latent dims, averaged over the batch."""
    per_image = kl_per_image(mu, logvar)
    return per_image.mean()


@in_fp32
def pixel_loss(
    recon_logits: torch.Tensor, x: torch.Tensor, kind: str = "sse", per_element: bool = False
) -> torch.Tensor:
    """Per-image sum over pixels, averaged over the batch (or, with ``per_element``, the mean
    over every element). x in [0, 1]; logits before sigmoid."""
    if kind == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(recon_logits, x, reduction="none")
    else:
        per_pixel = (torch.sigmoid(recon_logits) - x).pow(2)
    if per_element:
        return per_pixel.mean()
    return per_pixel.flatten(1).sum(1).mean()


@in_fp32
def ssim_colour_loss(recon: torch.Tensor, x: torch.Tensor, colour_weight: float = 1.0):
    """(1 - SSIM(recon, x)) + colour_weight * MSE(avgpool3x3(recon), avgpool3x3(x))."""
    ssim = structural_similarity_index_measure(recon.float(), x.float(), data_range=1.0)
    colour = F.mse_loss(F.adaptive_avg_pool2d(recon, 3), F.adaptive_avg_pool2d(x, 3))
    return (1 - ssim) + colour_weight * colour


@dataclass
class LossTerms:
    """total = alpha * kl * (batch size, with kl_reduction "sum") + recon_weight *
    reconstruction. ``alpha`` is the KL term's weight at this step (``loss.kl_weight``, ramped
    in over the warm-up); ``kl`` is the mean KL per image; ``parts`` holds the pieces of the
    reconstruction term (pixel, feature) where they apply."""

    total: torch.Tensor
    kl: torch.Tensor
    reconstruction: torch.Tensor
    alpha: float
    parts: dict[str, torch.Tensor] = field(default_factory=dict)


class DFCVAELoss(nn.Module):
    """The objective of one preset: ``loss(x, model(x), step)`` -> ``LossTerms``. The feature
    term is a ``PerceptualLoss`` (``self.perceptual``; None for the pixel and SSIM presets),
    whose loss network is in no ``state_dict`` (so never in checkpoints or model files), not
    among ``parameters()``, and untouched by ``.train()``; ``.to()`` still moves it."""

    def __init__(self, config: LossConfig, loss_network: LossNetwork | None = None):
        super().__init__()
        self.config = config
        self.perceptual: PerceptualLoss | None = None
        if config.uses_loss_network:
            if loss_network is None:
                loss_network = build_loss_network(
                    config.loss_network, config.layers, config.loss_weights, config.loss_input_size
                )
            # The data are in [0, 1] by construction and x_hat is a sigmoid: no range check,
            # which would cost a reduction (and on a GPU a synchronisation) every step.
            self.perceptual = PerceptualLoss(
                loss_network,
                layer_weights=config.layer_weights or None,
                scale=config.feature_scale,
                check_range=False,
            )

    @property
    def loss_network(self) -> LossNetwork | None:
        return self.perceptual.network if self.perceptual is not None else None

    def alpha_at(self, step: int) -> float:
        """alpha, the KL term's weight at ``step``: ``loss.kl_weight``, ramped linearly from 0
        over ``kl_warmup_steps`` when warm-up is on."""
        warmup = self.config.kl_warmup_steps
        scale = min(1.0, step / warmup) if warmup > 0 else 1.0
        return self.config.kl_weight * scale

    @property
    def feature_scale(self) -> float:
        """loss.feature_scale when set, else the loss network's own (docs/loss-scale.md)."""
        return self.perceptual.scale if self.perceptual is not None else 1.0

    def feature_term(self, x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        """The feature perceptual loss of ``recon`` against ``x``: an fp32 scalar."""
        return self.perceptual(recon, x)

    def forward(self, x: torch.Tensor, out: VAEOutput, step: int = 0) -> LossTerms:
        """x: (N, C, H, W) in [0, 1]; out: the model's output for x (``DFCVAE.forward``)."""
        if not isinstance(out, VAEOutput):
            raise TypeError(
                f"DFCVAELoss(x, out) takes the VAE's output (a VAEOutput from DFCVAE.forward) as "
                f"out, not a {type(out).__name__}: for the feature perceptual loss between two "
                "image batches use dfcvae.PerceptualLoss, e.g. PerceptualLoss('vgg19')(x_hat, x)"
            )
        cfg = self.config
        parts: dict[str, torch.Tensor] = {}
        if cfg.reconstruction == "pixel":
            reconstruction = pixel_loss(out.recon_logits, x, cfg.pixel)
        elif cfg.reconstruction == "feature":
            reconstruction = self.feature_term(x, out.recon)
        elif cfg.reconstruction == "mix":
            parts["pixel"] = pixel_loss(out.recon_logits, x, cfg.pixel, per_element=True)
            parts["feature"] = self.feature_term(x, out.recon)
            reconstruction = cfg.pixel_weight * parts["pixel"] + parts["feature"]
        else:
            reconstruction = ssim_colour_loss(out.recon, x, cfg.colour_weight)
        kl = kl_divergence(out.mu.float(), out.logvar.float())
        alpha = self.alpha_at(step)
        batch_kl = kl * x.shape[0] if cfg.kl_reduction == "sum" else kl
        total = alpha * batch_kl + cfg.recon_weight * reconstruction
        return LossTerms(total, kl, reconstruction, alpha, parts)
