"""Feature spaces for the Fréchet distance, each named by what it is.

- ``inception``: Inception-v3 pool features through torchmetrics (this is FID); needs the
  ``torch-fidelity`` package and its weights file, so it is often unavailable offline.
- ``mobilenet_v2``: ImageNet MobileNetV2 (torchvision weights, shipped offline), global average
  pooled 1280-d features of images resized to 96x96.
- ``classifier``: the project's small classifier (``dfcvae train-classifier``), average-pooled
  last-block features: a data-set-specific space for labelled sets like Fashion-MNIST.

The last two are loss networks plus pooling (``POOLED_SPACES``): the registry's spec, weights and
input preparation (``LossNetwork.prepare``: grey repeated to RGB, RGB to grey as luma, resize,
the network's own normalisation), then global average pooling of one layer.

A builder that cannot get its weights raises ``FeatureSpaceUnavailable`` with the reason; the
evaluation reports that reason instead of skipping the metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dfcvae.errors import DFCVAEError, first_line
from dfcvae.loss_networks import LossNetwork, get_spec, load_spec
from dfcvae.loss_networks.weights import WeightSource, hub_cache_path, local_weights
from dfcvae.offline import is_offline

INCEPTION_WEIGHTS = WeightSource(
    filename="weights-inception-2015-12-05-6726825d.pth",
    url="https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
    "weights-inception-2015-12-05-6726825d.pth",
)


class FeatureSpaceUnavailable(DFCVAEError):
    """A feature space whose network or weights are not available here; the message says why."""


@dataclass
class FeatureSpace:
    """``extract(images)``: (N, C, H, W) in [0, 1] -> (N, D) float32 features (no grad)."""

    name: str
    description: str
    network: nn.Module
    source: str = ""

    @torch.no_grad()
    def extract(self, images: torch.Tensor) -> torch.Tensor:
        device = next(self.network.parameters()).device
        return self.network(images.to(device)).flatten(1).float().cpu()


def three_channels(images: torch.Tensor) -> torch.Tensor:
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


@dataclass(frozen=True)
class PooledLayer:
    """A feature space made of a registered loss network: ``layer``'s features, average-pooled.

    size: the side images are resized to; None for the image size the weights were trained at
    (their folder's ``config.json``), else as the loss network would. description: formatted
    with ``width`` (the feature size), ``size`` and ``dataset``.
    """

    network: str
    layer: str
    size: int | None
    description: str


POOLED_SPACES: dict[str, PooledLayer] = {
    "mobilenet_v2": PooledLayer(
        "mobilenet_v2",
        "block18",
        96,
        "ImageNet MobileNetV2 pooled {width}-d features at {size}x{size} (not Inception FID)",
    ),
    "classifier": PooledLayer(
        "classifier",
        "relu3",
        None,
        "the project's {dataset} classifier, pooled {width}-d features (not Inception FID)",
    ),
}


class PooledFeatures(nn.Module):
    """A one-layer loss network, then global average pooling: (N, C, H, W) -> (N, D)."""

    def __init__(self, network: LossNetwork):
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        (features,) = self.network(images)
        return F.adaptive_avg_pool2d(features, 1).flatten(1)


def pooled_space(
    name: str, weights: str | Path | None = None, device: str | torch.device = "cpu"
) -> FeatureSpace:
    """The ``POOLED_SPACES`` entry ``name``, with its loss network's weights (``weights``: as
    ``--loss-weights``; None for the network's own source)."""
    pooled = POOLED_SPACES[name]
    spec = get_spec(pooled.network)
    try:
        # evaluate and report name a classifier with --classifier; the ImageNet networks'
        # weights come from the hub cache or the offline package, with no option.
        option = "--classifier" if name == "classifier" else None
        spec, loaded = load_spec(spec, None if weights is None else str(weights), option)
    except DFCVAEError as error:
        raise FeatureSpaceUnavailable(f"{pooled.network} weights: {error}") from None
    size = pooled.size or spec.config.get("image_size")
    network = LossNetwork(spec, [pooled.layer], loaded.state_dict, loaded.source, input_size=size)
    convolutions = [m for m in network.features.modules() if isinstance(m, nn.Conv2d)]
    description = pooled.description.format(
        width=convolutions[-1].out_channels,
        size=size,
        dataset=spec.config.get("dataset") or "data-set",
    )
    return FeatureSpace(
        name=name,
        description=description,
        network=PooledFeatures(network).to(device).eval(),
        source=loaded.source,
    )


def mobilenet_v2_space(device: str | torch.device = "cpu") -> FeatureSpace:
    """ImageNet MobileNetV2 pooled 1280-d features (weights from the hub cache or the offline
    package; downloaded only when ``DFCVAE_OFFLINE`` allows it)."""
    return pooled_space("mobilenet_v2", None, device)


def classifier_space(folder: str | Path, device: str | torch.device = "cpu") -> FeatureSpace:
    """Features of a classifier trained by ``dfcvae train-classifier`` (its folder)."""
    return pooled_space("classifier", folder, device)


class InceptionFeatures(nn.Module):
    """torchmetrics' FID Inception-v3 (torch-fidelity weights): uint8 images -> 2048-d."""

    def __init__(self, inception: nn.Module):
        super().__init__()
        self.inception = inception

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (three_channels(images).clamp(0, 1) * 255).round().to(torch.uint8)
        return self.inception(x)


def inception_space(device: str | torch.device = "cpu") -> FeatureSpace:
    """torchmetrics' Inception-v3 for FID, when torch-fidelity and its weights are present."""
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3
    except ImportError as error:
        raise FeatureSpaceUnavailable(f"torchmetrics FID cannot be imported ({error})") from None
    try:
        import torch_fidelity  # noqa: F401
    except ImportError:
        raise FeatureSpaceUnavailable(
            "Inception FID needs the torch-fidelity package (not installed); the Fréchet distance "
            "is reported in other feature spaces instead"
        ) from None
    path, _ = local_weights(INCEPTION_WEIGHTS)
    if path is None and is_offline():
        raise FeatureSpaceUnavailable(
            f"Inception FID weights {INCEPTION_WEIGHTS.filename} are not in "
            f"{hub_cache_path(INCEPTION_WEIGHTS.filename).parent} and DFCVAE_OFFLINE is set"
        )
    try:
        inception = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"])
    except Exception as error:  # noqa: BLE001 - download or file errors of any kind
        message = f"Inception FID weights could not be loaded ({first_line(error)})"
        raise FeatureSpaceUnavailable(message) from None
    return FeatureSpace(
        name="inception",
        description="Inception-v3 pool 2048-d features (torchmetrics / torch-fidelity): FID",
        network=InceptionFeatures(inception).to(device).eval(),
        source="torch-fidelity weights",
    )
