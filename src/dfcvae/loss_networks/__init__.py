"""Loss networks for the feature perceptual loss: VGG19 (the paper's), MobileNetV2 (ImageNet
weights available offline) and a small classifier the project trains (seed 001)."""

from __future__ import annotations

from dfcvae.errors import ConfigError
from dfcvae.loss_networks.base import LossNetwork, LossNetworkSpec, build_from_spec
from dfcvae.loss_networks.classifier import CLASSIFIER_LAYERS, classifier_spec
from dfcvae.loss_networks.mobilenet import MOBILENET_V2
from dfcvae.loss_networks.vgg import VGG19
from dfcvae.loss_networks.weights import RANDOM, local_weights

PRETRAINED: dict[str, LossNetworkSpec] = {"vgg19": VGG19, "mobilenet_v2": MOBILENET_V2}
LOSS_NETWORKS = (*PRETRAINED, "classifier")

__all__ = [
    "LOSS_NETWORKS",
    "LossNetwork",
    "LossNetworkSpec",
    "build_loss_network",
    "check_layers",
    "weights_status",
]


def layer_names(name: str) -> list[str]:
    if name == "classifier":
        return list(CLASSIFIER_LAYERS)
    if name not in PRETRAINED:
        raise ConfigError(
            f"--loss-network {name!r} is unknown: choose one of {', '.join(LOSS_NETWORKS)}"
        )
    return list(PRETRAINED[name].layers)


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
    if name == "classifier":
        spec, state = classifier_spec(weights)
        source = "random initialisation (timing only)" if weights == RANDOM else str(weights)
        return LossNetwork(spec, layers, state, source=source, input_size=input_size)
    return build_from_spec(PRETRAINED[name], layers, weights, input_size)


def weights_status() -> list[dict[str, str]]:
    """For each loss network: whether its weights are available here, and where."""
    rows = []
    for name, spec in PRETRAINED.items():
        path, where = local_weights(spec.weights)
        rows.append(
            {
                "name": name,
                "description": spec.description,
                "available": "yes" if path else "no",
                "where": f"{path} ({where})" if path else f"download {spec.weights.url}",
            }
        )
    rows.append(
        {
            "name": "classifier",
            "description": "small CNN trained by `dfcvae train-classifier`",
            "available": "train it",
            "where": "--loss-weights DIR from `dfcvae train-classifier`",
        }
    )
    return rows
