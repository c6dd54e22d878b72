"""Feature spaces for the Fréchet distance, each named by what it is.

- ``inception``: Inception-v3 pool features through torchmetrics (this is FID); needs the
  ``torch-fidelity`` package and its weights file, so it is often unavailable offline.
- ``mobilenet_v2``: ImageNet MobileNetV2 (torchvision weights, shipped offline), global average
  pooled 1280-d features of images resized to 96x96.
- ``classifier``: the project's small classifier (``dfcvae train-classifier``), average-pooled
  last-block features: a data-set-specific space for labelled sets like Fashion-MNIST.

A builder that cannot get its weights raises ``FeatureSpaceUnavailable`` with the reason; the
evaluation reports that reason instead of skipping the metric.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dfcvae.errors import DFCVAEError
from dfcvae.loss_networks.base import IMAGENET_MEAN, IMAGENET_STD
from dfcvae.loss_networks.weights import WeightSource, hub_cache_path, local_weights

MOBILENET_INPUT_SIZE = 96
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


class PooledImageNetFeatures(nn.Module):
    """ImageNet normalisation, resize, a conv trunk, then global average pooling."""

    def __init__(self, trunk: nn.Module, size: int):
        super().__init__()
        self.trunk = trunk
        self.size = size
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = three_channels(images)
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
        x = (x - self.mean) / self.std
        return F.adaptive_avg_pool2d(self.trunk(x), 1).flatten(1)


def mobilenet_v2_space(device: str | torch.device = "cpu") -> FeatureSpace:
    """ImageNet MobileNetV2 pooled 1280-d features (weights from the hub cache or the offline
    package; downloaded only when ``DFCVAE_OFFLINE`` is unset)."""
    from torchvision.models import mobilenet_v2

    from dfcvae.loss_networks.mobilenet import MOBILENET_V2
    from dfcvae.loss_networks.weights import resolve_weights

    try:
        state, source = resolve_weights(MOBILENET_V2.weights, None)
    except DFCVAEError as error:
        raise FeatureSpaceUnavailable(f"MobileNetV2 ImageNet weights: {error}") from None
    model = mobilenet_v2(weights=None)
    model.load_state_dict(state)
    network = PooledImageNetFeatures(model.features, MOBILENET_INPUT_SIZE).to(device).eval()
    return FeatureSpace(
        name="mobilenet_v2",
        description=(
            f"ImageNet MobileNetV2 pooled 1280-d features at {MOBILENET_INPUT_SIZE}x"
            f"{MOBILENET_INPUT_SIZE} (not Inception FID)"
        ),
        network=network,
        source=source,
    )


class ClassifierFeatures(nn.Module):
    """The classifier's own input scaling, its image size, its conv features, average-pooled."""

    def __init__(self, features: nn.Module, channels: int, size: int):
        super().__init__()
        self.features = features
        self.channels = channels
        self.size = size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images
        if x.shape[1] != self.channels:
            x = three_channels(x) if self.channels == 3 else x.mean(1, keepdim=True)
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
        return F.adaptive_avg_pool2d(self.features((x - 0.5) / 0.5), 1).flatten(1)


def classifier_space(folder: str | Path, device: str | torch.device = "cpu") -> FeatureSpace:
    """Features of a classifier trained by ``dfcvae train-classifier`` (its folder)."""
    from dfcvae.loss_networks.classifier import SmallClassifier, read_classifier

    try:
        config, state = read_classifier(folder)
    except DFCVAEError as error:
        raise FeatureSpaceUnavailable(f"classifier {folder}: {error}") from None
    model = SmallClassifier(config)
    model.load_state_dict(state)
    network = ClassifierFeatures(model.features, config.channels, config.image_size)
    width = config.widths[-1]
    return FeatureSpace(
        name="classifier",
        description=(
            f"the project's {config.dataset or 'data-set'} classifier, pooled {width}-d "
            "features (not Inception FID)"
        ),
        network=network.to(device).eval(),
        source=str(folder),
    )


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
    if path is None and os.environ.get("DFCVAE_OFFLINE"):
        raise FeatureSpaceUnavailable(
            f"Inception FID weights {INCEPTION_WEIGHTS.filename} are not in "
            f"{hub_cache_path(INCEPTION_WEIGHTS.filename).parent} and DFCVAE_OFFLINE is set"
        )
    try:
        inception = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"])
    except Exception as error:  # noqa: BLE001 - download or file errors of any kind
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else repr(error)
        message = f"Inception FID weights could not be loaded ({reason})"
        raise FeatureSpaceUnavailable(message) from None
    return FeatureSpace(
        name="inception",
        description="Inception-v3 pool 2048-d features (torchmetrics / torch-fidelity): FID",
        network=InceptionFeatures(inception).to(device).eval(),
        source="torch-fidelity weights",
    )
