"""The DFC-VAE objective: total = alpha * KL + beta * reconstruction.

Reductions (the most asked-about point in other ports; docs/loss-scale.md derives the defaults):
- ``kl_divergence``: summed over latent dimensions, averaged over the batch. With
  ``loss.kl_reduction = "sum"`` (the feature presets) the total uses it times the batch size:
  summed over the batch, as the original code's KLDCriterion.
- ``pixel_loss``: squared error (or BCE) summed over pixels of an image, averaged over the batch
  (PVAE); the ``mix`` reconstruction uses its per-element mean instead (seed 004).
- ``feature_loss``: for each loss-network layer l, mean((s * phi_l(x) - s * phi_l(x_hat))^2) over
  every element (batch, channel, height, width), weighted by w_l and summed over layers; s is the
  loss network's feature scale (VGG19: the Caffe input scale of the original code).
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

from dfcvae.loss_config import LossConfig
from dfcvae.loss_networks import LossNetwork, build_loss_network
from dfcvae.model import VAEOutput

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
    term does the same inside ``SquaredErrorMean``, without the copies.)"""

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


# Elements per piece of a feature map in ``SquaredErrorMean`` on CPU: 1 MiB of fp32, the size of
# a Zen 4 or Zen 5 core's L2 cache, so each piece's fp32 difference stays in cache instead of
# going through memory (of 2^14 to 2^20, the fastest on Zen 5, one thread).
CPU_PIECE = 1 << 18


def _channels_last(a: torch.Tensor) -> bool:
    return (
        a.dim() == 4
        and not a.is_contiguous()
        and a.is_contiguous(memory_format=torch.channels_last)
    )


def _flat(a: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """A 1-d view of a contiguous map, or of a channels-last one in its (N, H, W, C) order."""
    if channels_last:
        return a.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1).reshape(-1)
    return a.contiguous().view(-1)


def _pieces(n: int, device: torch.device) -> list[slice]:
    step = CPU_PIECE if device.type == "cpu" else max(n, 1)
    return [slice(start, start + step) for start in range(0, n, step)]


class SquaredErrorMean(torch.autograd.Function):
    """mean((recon - target)^2) over every element, computed in fp32 whatever the inputs' dtype
    (bf16 feature maps under autocast) and returned as an fp32 scalar; the gradient goes to
    ``recon`` alone, in its dtype and layout. ``F.mse_loss`` on fp32 copies gives the same
    value; this reads the bf16 maps once per pass instead of writing and reading fp32 copies of
    them (on CPU, piece by piece through the cache): a bf16 VAE-123 step at 64x64, batch 64, ran
    1.1-1.5x faster with it than with the copies in three idle runs on AMD Zen 5
    (docs/benchmarks.md)."""

    @staticmethod
    def forward(ctx, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        layout = _channels_last(recon)
        r, t = _flat(recon, layout), _flat(target.detach(), layout)
        ctx.save_for_backward(recon, target.detach())
        total = torch.zeros((), dtype=torch.float32, device=r.device)
        with torch.autocast(r.device.type, enabled=False):
            for piece in _pieces(r.numel(), r.device):
                diff = r[piece].to(torch.float32, copy=True).sub_(t[piece])
                total += diff.square_().sum()
        return total / r.numel()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: ANN001
        recon, target = ctx.saved_tensors
        layout = _channels_last(recon)
        memory_format = torch.channels_last if layout else torch.contiguous_format
        out = torch.empty_like(recon, memory_format=memory_format)
        r, t, flat_out = _flat(recon, layout), _flat(target, layout), _flat(out, layout)
        coefficient = grad.float() * (2.0 / r.numel())
        with torch.autocast(r.device.type, enabled=False):
            for piece in _pieces(r.numel(), r.device):
                diff = r[piece].to(torch.float32, copy=True).sub_(t[piece])
                flat_out[piece].copy_(diff.mul_(coefficient))
        return out, None


def feature_loss(
    target_features: list[torch.Tensor],
    recon_features: list[torch.Tensor],
    weights: list[float] | None = None,
    scale: float = 1.0,
) -> torch.Tensor:
    """sum_l w_l * mean((scale * (phi_l(x) - phi_l(x_hat)))^2) over the given layers, in fp32
    whatever the maps' dtype (``SquaredErrorMean``); no gradient flows to the target maps."""
    weights = weights or [1.0] * len(target_features)
    terms = [
        w * SquaredErrorMean.apply(r, t)
        for w, t, r in zip(weights, target_features, recon_features)
    ]
    return scale**2 * torch.stack(terms).sum()


@in_fp32
def ssim_colour_loss(recon: torch.Tensor, x: torch.Tensor, colour_weight: float = 1.0):
    """(1 - SSIM(recon, x)) + colour_weight * MSE(avgpool3x3(recon), avgpool3x3(x))."""
    ssim = structural_similarity_index_measure(recon.float(), x.float(), data_range=1.0)
    colour = F.mse_loss(F.adaptive_avg_pool2d(recon, 3), F.adaptive_avg_pool2d(x, 3))
    return (1 - ssim) + colour_weight * colour


@dataclass
class LossTerms:
    """total = kl_weight * kl * (batch size, with kl_reduction "sum") + recon_weight *
    reconstruction. ``kl`` is the mean KL per image; ``parts`` holds the pieces of the
    reconstruction term (pixel, feature) where they apply."""

    total: torch.Tensor
    kl: torch.Tensor
    reconstruction: torch.Tensor
    kl_weight: float
    parts: dict[str, torch.Tensor] = field(default_factory=dict)


class DFCVAELoss(nn.Module):
    """The objective of one preset. The loss network (if any) is held outside the module tree:
    it is in no ``state_dict`` (so never in checkpoints or model files), not among
    ``parameters()``, and untouched by ``.train()``; ``.to()`` still moves it."""

    def __init__(self, config: LossConfig, loss_network: LossNetwork | None = None):
        super().__init__()
        self.config = config
        if loss_network is None and config.uses_loss_network:
            loss_network = build_loss_network(
                config.loss_network, config.layers, config.loss_weights, config.loss_input_size
            )
        self._frozen = (loss_network,)

    @property
    def loss_network(self) -> LossNetwork | None:
        return self._frozen[0]

    def _apply(self, fn, recurse=True):  # noqa: ANN001 - torch's signature
        if self.loss_network is not None:
            self.loss_network._apply(fn)
        return super()._apply(fn, recurse)

    def kl_weight(self, step: int) -> float:
        """alpha, ramped linearly from 0 over ``kl_warmup_steps`` when warm-up is on."""
        warmup = self.config.kl_warmup_steps
        scale = min(1.0, step / warmup) if warmup > 0 else 1.0
        return self.config.kl_weight * scale

    @property
    def feature_scale(self) -> float:
        """loss.feature_scale when set, else the loss network's own (docs/loss-scale.md)."""
        if self.config.feature_scale is not None:
            return self.config.feature_scale
        return self.loss_network.feature_scale if self.loss_network is not None else 1.0

    def feature_term(self, x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        network = self.loss_network
        with torch.no_grad():
            target = network(x)
        weights = self.config.layer_weights or None
        return feature_loss(target, network(recon), weights, self.feature_scale)

    def forward(self, x: torch.Tensor, out: VAEOutput, step: int = 0) -> LossTerms:
        """x: (N, C, H, W) in [0, 1]; out: the model's output for x."""
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
        alpha = self.kl_weight(step)
        batch_kl = kl * x.shape[0] if cfg.kl_reduction == "sum" else kl
        total = alpha * batch_kl + cfg.recon_weight * reconstruction
        return LossTerms(total, kl, reconstruction, alpha, parts)
