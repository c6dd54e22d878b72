"""VGG19 (torchvision, ImageNet) with the paper's layer names: relu1_1 = features[1], ...

VAE-123 uses relu1_1, relu2_1, relu3_1; VAE-345 uses relu3_1, relu4_1, relu5_1.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import VGG19_Weights
from torchvision.models.vgg import cfgs, make_layers

from dfcvae.loss_networks.base import IMAGENET_STD, LossNetworkSpec, load_features
from dfcvae.loss_networks.weights import WeightSource

# The original code fed Caffe's VGG19 0-255 BGR pixels minus the mean pixel, with no division by a
# std; torchvision's VGG19 sees (x - mean) / std. The same image therefore reaches it about
# 255 * std ~ 57.6 times smaller, and so do its activations: docs/loss-scale.md.
CAFFE_FEATURE_SCALE = 255 * sum(IMAGENET_STD) / len(IMAGENET_STD)


def _relu_indices() -> dict[str, int]:
    """relu{block}_{conv} -> index in ``vgg19().features`` (config "E": 2, 2, 4, 4, 4 convs)."""
    names, block, conv = {}, 1, 0
    for index, layer in enumerate(make_layers(cfgs["E"])):
        if isinstance(layer, nn.MaxPool2d):
            block, conv = block + 1, 0
        elif isinstance(layer, nn.ReLU):
            conv += 1
            names[f"relu{block}_{conv}"] = index
    return names


def build_vgg19_features(state_dict: dict[str, torch.Tensor] | None) -> nn.Sequential:
    """``vgg19().features`` without building the 120M-parameter classifier head."""
    features = make_layers(cfgs["E"])
    if state_dict is not None:
        prefixed = any(key.startswith("features.") for key in state_dict)
        own = {
            key.removeprefix("features."): value
            for key, value in state_dict.items()
            if key.startswith("features.") or not prefixed
        }
        load_features(features, own, "VGG19")
    return features


VGG19 = LossNetworkSpec(
    name="vgg19",
    description="VGG19, ImageNet (torchvision IMAGENET1K_V1), the paper's loss network",
    layers=_relu_indices(),
    build=build_vgg19_features,
    weights=WeightSource(
        filename=VGG19_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1],
        url=VGG19_Weights.IMAGENET1K_V1.url,
    ),
    min_size=32,
    feature_scale=CAFFE_FEATURE_SCALE,
)
