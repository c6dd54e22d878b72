"""Loss networks for the feature perceptual loss: VGG19 (the paper's), MobileNetV2 (ImageNet
weights available offline) and a small classifier the project trains (seed 001).

``LOSS_NETWORK_SPECS`` is the one registry: the loss, the Fréchet feature spaces
(``dfcvae.analysis.feature_spaces``), the presets and ``dfcvae weights`` read it. To add a loss
network, write its ``LossNetworkSpec`` in a module of its own and list it here.
"""

from __future__ import annotations

from dfcvae.errors import ConfigError
from dfcvae.loss_networks.base import LossNetwork, LossNetworkSpec, build_from_spec, load_spec
from dfcvae.loss_networks.classifier import CLASSIFIER
from dfcvae.loss_networks.mobilenet import MOBILENET_V2
from dfcvae.loss_networks.vgg import VGG19

LOSS_NETWORK_SPECS: dict[str, LossNetworkSpec] = {
    spec.name: spec for spec in (VGG19, MOBILENET_V2, CLASSIFIER)
}
LOSS_NETWORKS = tuple(LOSS_NETWORK_SPECS)

__all__ = [
    "LOSS_NETWORKS",
    "LOSS_NETWORK_SPECS",
    "LossNetwork",
    "LossNetworkSpec",
    "build_loss_network",
    "check_layers",
    "get_spec",
    "layer_names",
    "load_spec",
    "weights_status",
]


def get_spec(name: str) -> LossNetworkSpec:
    """The registered spec called ``name``; one line listing the valid names otherwise."""
    if name not in LOSS_NETWORK_SPECS:
        raise ConfigError(
            f"--loss-network {name!r} is unknown: choose one of {', '.join(LOSS_NETWORKS)}"
        )
    return LOSS_NETWORK_SPECS[name]


def layer_names(name: str) -> list[str]:
    return list(get_spec(name).layers)


def check_layers(name: str, layers: list[str]) -> None:
    """One clear line for an unknown network or layer name, listing the valid ones."""
    valid = layer_names(name)
    unknown = [layer for layer in layers if layer not in valid]
    if unknown or not layers:
        raise ConfigError(
            f"unknown {name} layer(s) {', '.join(unknown) or '(none given)'}: choose from "
            f"{', '.join(valid)}"
        )


def build_loss_network(
    name: str, layers: list[str], weights: str | None = None, input_size: int | None = None
) -> LossNetwork:
    """A frozen loss network truncated after the deepest of ``layers``.

    weights: None (hub cache, offline package, then download), a file path, a classifier folder,
    or ``"random"`` (timing only).
    """
    check_layers(name, layers)
    return build_from_spec(get_spec(name), layers, weights, input_size)


def weights_status() -> list[dict[str, str]]:
    """For each loss network: whether its weights are available here, and where."""
    rows = []
    for spec in LOSS_NETWORK_SPECS.values():
        available, where = spec.weights.status()
        row = {"name": spec.name, "description": spec.description}
        rows.append({**row, "available": available, "where": where})
    return rows
