"""The feature perceptual loss (Hou et al., WACV 2017, Section 3.2) as a module of its own, for
any model's training loop, as the ``lpips`` package offers its metric::

    loss_fn = dfcvae.PerceptualLoss("mobilenet_v2")
    loss = loss_fn(reconstruction, images)        # both (N, C, H, W) in [0, 1]

For each loss-network layer l: mean((s * phi_l(recon) - s * phi_l(target))^2) over every
element, weighted by w_l and summed over the layers; s is the loss network's feature scale
(VGG19: the Caffe input scale of the original code; docs/loss-scale.md). ``DFCVAELoss`` uses it
for the feature presets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from dfcvae.errors import ConfigError, InputError
from dfcvae.loss_networks import LossNetwork, build_loss_network, get_spec
from dfcvae.vae.fast_paths import fused_squared_error_mean
from dfcvae.vae.presets import PRESETS, config_from_preset

Reduction = Literal["mean", "sum", "none"]
REDUCTIONS = ("mean", "sum", "none")
# Layers of each network when none are given: those of its preset (vae-123, vae-mobilenet...).
DEFAULT_LAYERS = {
    "vgg19": ["relu1_1", "relu2_1", "relu3_1"],
    "mobilenet_v2": ["block1", "block3", "block6"],
    "classifier": ["relu1", "relu2", "relu3"],
}
# Images may stray this far outside [0, 1] by rounding (a resize, a cast to bf16).
RANGE_SLACK = 1e-3


def squared_error_mean(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean((recon - target)^2) over every element, in fp32 whatever the autocast and the maps'
    dtype; no gradient flows to ``target``. The plain form of ``fast_paths.SquaredErrorMean``."""
    with torch.autocast(recon.device.type, enabled=False):
        return F.mse_loss(recon.float(), target.detach().float())


def feature_loss(
    target_features: list[torch.Tensor],
    recon_features: list[torch.Tensor],
    weights: list[float] | None = None,
    scale: float = 1.0,
    fused: bool = True,
) -> torch.Tensor:
    """sum_l w_l * mean((scale * (phi_l(x) - phi_l(x_hat)))^2) over the given layers, an fp32
    scalar whatever the maps' dtype; no gradient flows to the target maps. ``fused``: by
    ``fast_paths.fused_squared_error_mean`` (else ``squared_error_mean``), the same value."""
    mse = fused_squared_error_mean if fused else squared_error_mean
    weights = weights or [1.0] * len(target_features)
    terms = [w * mse(r, t) for w, t, r in zip(weights, target_features, recon_features)]
    return scale**2 * torch.stack(terms).sum()


def per_image_feature_loss(
    target_features: list[torch.Tensor],
    recon_features: list[torch.Tensor],
    weights: list[float] | None = None,
    scale: float = 1.0,
) -> torch.Tensor:
    """``feature_loss`` of each image on its own: (N,) in fp32; their mean is ``feature_loss``."""
    weights = weights or [1.0] * len(target_features)
    with torch.autocast(recon_features[0].device.type, enabled=False):
        terms = [
            w * (r.float() - t.detach().float()).pow(2).flatten(1).mean(1)
            for w, t, r in zip(weights, target_features, recon_features)
        ]
    return scale**2 * torch.stack(terms).sum(0)


def vgg_layers(layers: str | Sequence[str]) -> list[str]:
    """``"123"`` -> relu1_1, relu2_1, relu3_1 (the paper's VAE-123 and VAE-345 shorthand)."""
    if isinstance(layers, str) and layers.isdigit():
        return [f"relu{digit}_1" for digit in layers]
    return [layers] if isinstance(layers, str) else list(layers)


def check_unit_range(images: torch.Tensor, name: str) -> None:
    """One line when ``images`` are not in [0, 1] (e.g. in [-1, 1] or 0-255)."""
    low, high = torch.aminmax(images.detach())
    low, high = low.item(), high.item()
    if low < -RANGE_SLACK or high > 1 + RANGE_SLACK:
        raise InputError(
            f"PerceptualLoss: {name} lie in [{low:.3g}, {high:.3g}], but it takes images in "
            "[0, 1]: map [-1, 1] images with (x + 1) / 2, 0-255 ones with x / 255"
        )


class PerceptualLoss(nn.Module):
    """The feature perceptual loss between two image batches (see the module docstring).

    network: a loss-network name (``"vgg19"``, ``"mobilenet_v2"``, ``"classifier"``), a preset
    name (``"vae-123"``, ``"vae-345"``, ``"vae-mobilenet"``...: its network, layers, layer
    weights and scale), or a built ``LossNetwork``. layers: names of the network's layers, or for
    VGG19 the paper's shorthand ``"123"`` / ``"345"``; default: the network's preset's.
    layer_weights: w_l (default 1 each). scale: s (default: the network's own feature scale).
    reduction: ``"mean"`` (the presets': a scalar), ``"sum"`` (over the batch) or ``"none"``
    (one value per image, (N,)). weights: where the network's weights come from (None: the hub
    cache or the offline package; a file; a classifier folder; ``"random"`` for timing).
    check_range: refuse images outside [0, 1] (one ``InputError`` line); costs one reduction
    and, on a GPU, a synchronisation per call. fused: ``fast_paths`` MSE for ``"mean"``.

    The network is frozen and stays in eval mode whatever ``.train()`` says; it is held outside
    the module tree, so it is in no ``state_dict`` and among no ``parameters()``, while
    ``.to()`` still moves it. Under autocast the network runs in the autocast dtype and the
    squared errors are taken in fp32: the loss is an fp32 tensor.
    """

    def __init__(
        self,
        network: str | LossNetwork = "vgg19",
        layers: str | Sequence[str] | None = None,
        *,
        layer_weights: Sequence[float] | None = None,
        scale: float | None = None,
        reduction: Reduction = "mean",
        weights: str | None = None,
        input_size: int | None = None,
        check_range: bool = True,
        fused: bool = True,
    ):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ConfigError(f"reduction={reduction!r}: choose one of {', '.join(REDUCTIONS)}")
        if isinstance(network, str):
            network, layer_weights, scale = from_names(
                network, layers, layer_weights, scale, weights, input_size
            )
        elif layers is not None:
            raise ConfigError("PerceptualLoss: give layers with a network name, not a LossNetwork")
        if layer_weights and len(layer_weights) != len(network.layer_names):
            raise ConfigError(
                f"PerceptualLoss: {len(layer_weights)} layer_weights for the "
                f"{len(network.layer_names)} layers {', '.join(network.layer_names)}"
            )
        self._frozen = (network,)
        self.layer_weights = list(layer_weights) if layer_weights else None
        self.scale = network.feature_scale if scale is None else float(scale)
        self.reduction = reduction
        self.check_range = check_range
        self.fused = fused

    @property
    def network(self) -> LossNetwork:
        """The frozen loss network (outside the module tree; see the class docstring)."""
        return self._frozen[0]

    def _apply(self, fn, recurse=True):  # noqa: ANN001 - torch's signature
        self.network._apply(fn)
        return super()._apply(fn, recurse)

    def forward(self, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """recon, target: (N, C, H, W) in [0, 1]; gradients flow to ``recon`` only (the
        target's features are computed under no_grad). Returns an fp32 scalar, or (N,) with
        ``reduction="none"``."""
        if recon.shape != target.shape:
            raise InputError(
                f"PerceptualLoss: recon {tuple(recon.shape)} and target {tuple(target.shape)} "
                "differ in shape"
            )
        if self.check_range:
            check_unit_range(recon, "recon")
            check_unit_range(target, "target")
        with torch.no_grad():
            target_features = self.network(target)
        recon_features = self.network(recon)
        if self.reduction == "mean":
            return feature_loss(
                target_features, recon_features, self.layer_weights, self.scale, self.fused
            )
        per_image = per_image_feature_loss(
            target_features, recon_features, self.layer_weights, self.scale
        )
        return per_image.sum() if self.reduction == "sum" else per_image

    def extra_repr(self) -> str:
        return (
            f"network={self.network.name}, layers={self.network.layer_names}, "
            f"scale={self.scale:g}, reduction={self.reduction!r}"
        )


def from_names(
    name: str,
    layers: str | Sequence[str] | None,
    layer_weights: Sequence[float] | None,
    scale: float | None,
    weights: str | None,
    input_size: int | None,
) -> tuple[LossNetwork, Sequence[float] | None, float | None]:
    """The network, layer weights and scale that a network or preset name means, with the given
    layers; the explicit arguments take precedence over the preset's values."""
    if name in PRESETS:
        loss = config_from_preset(name).loss
        if not loss.uses_loss_network:
            raise ConfigError(f"preset {name!r} has no loss network: choose a feature preset")
        name = loss.loss_network
        layers = loss.layers if layers is None else layers
        layer_weights = (loss.layer_weights or None) if layer_weights is None else layer_weights
        scale = loss.feature_scale if scale is None else scale
        input_size = loss.loss_input_size if input_size is None else input_size
    get_spec(name)  # one line for an unknown name
    layers = DEFAULT_LAYERS.get(name, []) if layers is None else vgg_layers(layers)
    network = build_loss_network(name, layers, weights, input_size)
    return network, layer_weights, scale
