"""A loss network: a frozen CNN whose hidden activations define the feature perceptual loss.

Each network is described by a ``LossNetworkSpec`` (its layer names, input normalisation and
weight source, like torchvision's weight enums) and instantiated as a ``LossNetwork`` truncated
after the deepest layer the loss needs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dfcvae.errors import ConfigError
from dfcvae.loss_networks.weights import RANDOM, WeightSource, resolve_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class LossNetworkSpec:
    """What a loss network is: ``build(state_dict)`` returns its ``features`` Sequential (random
    init when the state dict is None); ``layers`` maps the layer names to indices in it."""

    name: str
    description: str
    layers: Mapping[str, int]
    build: Callable[[dict[str, torch.Tensor] | None], nn.Sequential]
    weights: WeightSource | None
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    in_channels: int = 3
    min_size: int = 32
    # Multiplies the feature maps inside the feature perceptual loss (so the squared error by its
    # square); it puts a network's features on the scale its loss weights were set for.
    # docs/loss-scale.md derives each value.
    feature_scale: float = 1.0

    def check_layers(self, layers: list[str]) -> None:
        if not layers:
            raise ConfigError(f"loss.layers is empty: choose from {', '.join(self.layers)}")
        unknown = [layer for layer in layers if layer not in self.layers]
        if unknown:
            raise ConfigError(
                f"unknown {self.name} layer(s) {', '.join(unknown)}: choose from "
                f"{', '.join(self.layers)}"
            )


class LossNetwork(nn.Module):
    """x: (N, C, H, W) in [0, 1] -> a list of feature maps, one per requested layer, in order.

    Frozen (no parameter needs grad) and always in eval mode, whatever ``.train()`` is called
    with, so BatchNorm statistics (MobileNetV2) never drift. Grayscale inputs are repeated to the
    network's 3 channels; inputs smaller than ``min_size`` (or than ``input_size``, if set) are
    resized; the network's own normalisation is applied inside.
    """

    def __init__(
        self,
        spec: LossNetworkSpec,
        layers: list[str],
        state_dict: dict[str, torch.Tensor] | None,
        source: str = "",
        input_size: int | None = None,
    ):
        super().__init__()
        spec.check_layers(layers)
        self.name = spec.name
        self.layer_names = list(layers)
        self.source = source
        self.in_channels = spec.in_channels
        self.input_size = input_size
        self.min_size = spec.min_size
        self.feature_scale = spec.feature_scale
        indices = [spec.layers[layer] for layer in layers]
        self.taps = indices
        self.features = spec.build(state_dict)[: max(indices) + 1]
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, -1, 1, 1), persistent=False)
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> LossNetwork:
        return super().train(False)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Match the network's channels and size, then normalise."""
        if x.shape[1] != self.in_channels:
            if self.in_channels == 3:
                x = x.expand(-1, 3, -1, -1)
            else:  # RGB into a grayscale network: ITU-R 601 luma
                weights = x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
                x = (x * weights).sum(1, keepdim=True)
        size = self.input_size or (self.min_size if x.shape[-1] < self.min_size else None)
        if size and size != x.shape[-1]:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.prepare(x)
        out = []
        for index, layer in enumerate(self.features):
            h = layer(h)
            if index in self.taps:
                out.append(h)
        order = sorted(self.taps)
        return [out[order.index(i)] for i in self.taps]


def build_from_spec(
    spec: LossNetworkSpec,
    layers: list[str],
    weights: str | None = None,
    input_size: int | None = None,
) -> LossNetwork:
    """Instantiate ``spec`` with weights resolved as in ``dfcvae.loss_networks.weights``."""
    spec.check_layers(layers)
    state_dict, source = resolve_weights(spec.weights, weights)
    if weights == RANDOM:
        warnings.warn(
            f"loss network {spec.name} has RANDOM weights (--loss-weights random): the results "
            "are only good for timing, not for images",
            stacklevel=2,
        )
    return LossNetwork(spec, layers, state_dict, source=source, input_size=input_size)
