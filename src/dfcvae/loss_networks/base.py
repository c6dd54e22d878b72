"""A loss network: a frozen CNN whose hidden activations define the feature perceptual loss.

Each network is described once by a ``LossNetworkSpec`` (its layer names, input normalisation and
weight source, like torchvision's weight enums) and instantiated as a ``LossNetwork`` truncated
after the deepest layer the loss needs. The loss, the Fréchet feature spaces, the presets and
``dfcvae weights`` all read that description.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dfcvae.errors import ConfigError, WeightsError, first_line
from dfcvae.loss_networks.weights import (
    RANDOM,
    LoadedWeights,
    TrainedFolder,
    WeightSource,
    resolve_weights,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class LossNetworkSpec:
    """What a loss network is: ``build(state_dict)`` returns its ``features`` Sequential (random
    init when the state dict is None); ``layers`` maps the layer names to indices in it.

    A network trained here (``weights`` a ``TrainedFolder``) is described by its folder's
    ``config.json``: ``configure(config)`` returns the fields that config decides (``build``,
    ``in_channels``...), and ``config`` keeps it (its data set, its image size).
    """

    name: str
    description: str
    layers: Mapping[str, int]
    build: Callable[[dict[str, torch.Tensor] | None], nn.Sequential]
    weights: WeightSource | TrainedFolder | None
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    in_channels: int = 3
    min_size: int = 32
    # Multiplies the feature maps inside the feature perceptual loss (so the squared error by its
    # square); it puts a network's features on the scale its loss weights were set for.
    # docs/loss-scale.md derives each value.
    feature_scale: float = 1.0
    configure: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    config: Mapping[str, Any] = field(default_factory=dict)

    def check_layers(self, layers: list[str]) -> None:
        if not layers:
            raise ConfigError(f"loss.layers is empty: choose from {', '.join(self.layers)}")
        unknown = [layer for layer in layers if layer not in self.layers]
        if unknown:
            raise ConfigError(
                f"unknown {self.name} layer(s) {', '.join(unknown)}: choose from "
                f"{', '.join(self.layers)}"
            )


def load_features(features: nn.Module, state_dict: dict[str, torch.Tensor], network: str) -> None:
    """``features.load_state_dict``, or one line saying that the weights are not ``network``'s."""
    try:
        features.load_state_dict(state_dict)
    except RuntimeError as error:  # torch lists every missing and unexpected key, one per line
        reason = " ".join(str(error).split())[:200]
        raise WeightsError(f"these weights do not fit {network}: {reason}") from None


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
        luma = torch.tensor(LUMA).view(1, 3, 1, 1)  # RGB into a grayscale network: ITU-R 601
        self.register_buffer("luma", luma, persistent=False)
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> LossNetwork:
        return super().train(False)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Match the network's channels and size, then normalise."""
        if x.shape[1] != self.in_channels:
            if self.in_channels == 3:
                x = x.expand(-1, 3, -1, -1)
            else:
                x = (x * self.luma.to(x.dtype)).sum(1, keepdim=True)
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


def load_spec(
    spec: LossNetworkSpec, weights: str | None = None, option: str | None = "--loss-weights"
) -> tuple[LossNetworkSpec, LoadedWeights]:
    """The spec as its weights describe it, and the weights (resolved as in ``weights.py``).

    weights: None (the spec's own source), a file path, a trained folder, or ``"random"``.
    option: the calling command's option that names them (None: it has none), for messages.
    """
    loaded = resolve_weights(spec.weights, weights, option)
    if spec.configure is not None:
        try:
            spec = replace(spec, **spec.configure(loaded.config), config=loaded.config)
        except (TypeError, ValueError) as error:
            raise WeightsError(
                f"{loaded.source}: its config.json does not describe a {spec.name} "
                f"({first_line(error)})"
            ) from None
    if weights == RANDOM:
        warnings.warn(
            f"loss network {spec.name} has RANDOM weights (--loss-weights random): the results "
            "are only good for timing, not for images",
            stacklevel=3,
        )
    return spec, loaded


def build_from_spec(
    spec: LossNetworkSpec,
    layers: list[str],
    weights: str | None = None,
    input_size: int | None = None,
) -> LossNetwork:
    """Instantiate ``spec`` truncated after the deepest of ``layers``, with ``weights`` as in
    ``load_spec``."""
    spec.check_layers(layers)
    spec, loaded = load_spec(spec, weights)
    try:
        return LossNetwork(spec, layers, loaded.state_dict, loaded.source, input_size)
    except WeightsError as error:
        raise WeightsError(f"{loaded.source}: {error}") from None
