"""A small CNN classifier trained by the project on a labelled data set (seed 001's approach),
then used as the loss network. ``dfcvae train-classifier`` writes a folder holding
``classifier.safetensors`` and ``config.json``; pass that folder as ``--loss-weights``. The
``CLASSIFIER`` spec takes its architecture from that ``config.json``.

features: [conv3x3 -> BN -> relu1 -> maxpool] [conv3x3 -> BN -> relu2 -> maxpool]
[conv3x3 -> BN -> relu3], then global average pooling and a linear head.
Layers relu1 (1/1), relu2 (1/2), relu3 (1/4) are the taps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import torch
from torch import nn

from dfcvae.loss_networks.base import LossNetworkSpec, load_features
from dfcvae.loss_networks.weights import TrainedFolder

CLASSIFIER_LAYERS = {"relu1": 2, "relu2": 6, "relu3": 10}
WEIGHTS_FILE = "classifier.safetensors"
# No original code fixes it: chosen over 100, 200, 400 on Fashion-MNIST (docs/loss-scale.md).
FEATURE_SCALE = 200.0


@dataclass
class ClassifierConfig:
    channels: int = 1
    num_classes: int = 10
    widths: list[int] = field(default_factory=lambda: [32, 64, 128])
    class_names: list[str] = field(default_factory=list)
    dataset: str = ""
    image_size: int = 32


class SmallClassifier(nn.Module):
    """x: (N, C, H, W) in [0, 1] -> class logits (N, num_classes)."""

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        w1, w2, w3 = config.widths
        self.features = nn.Sequential(
            nn.Conv2d(config.channels, w1, 3, padding=1),
            nn.BatchNorm2d(w1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(w1, w2, 3, padding=1),
            nn.BatchNorm2d(w2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(w2, w3, 3, padding=1),
            nn.BatchNorm2d(w3),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(w3, config.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features((x - 0.5) / 0.5))


def build_classifier_features(
    config: ClassifierConfig, state_dict: dict[str, torch.Tensor] | None
) -> nn.Sequential:
    """The conv features of a ``SmallClassifier`` (random init when the state dict is None)."""
    model = SmallClassifier(config)
    if state_dict is not None:
        load_features(model, state_dict, "the classifier")
    return model.features


def configure(config: Mapping[str, Any]) -> dict[str, Any]:
    """The spec fields that a ``train-classifier`` folder's ``config.json`` decides."""
    classifier = ClassifierConfig(**{k: v for k, v in config.items() if k != "kind"})
    if len(classifier.widths) != 3:
        raise ValueError(f"widths {classifier.widths} should hold 3 numbers, one per block")
    return {
        "build": partial(build_classifier_features, classifier),
        "in_channels": classifier.channels,
        "mean": (0.5,) * classifier.channels,
        "std": (0.5,) * classifier.channels,
    }


CLASSIFIER = LossNetworkSpec(
    name="classifier",
    description="small CNN classifier trained by `dfcvae train-classifier`",
    layers=CLASSIFIER_LAYERS,
    weights=TrainedFolder(
        what="classifier",
        weights_file=WEIGHTS_FILE,
        made_by="dfcvae train-classifier --dataset NAME --out DIR",
    ),
    configure=configure,
    min_size=8,
    feature_scale=FEATURE_SCALE,
    **configure({}),
)


def classifier_config_dict(config: ClassifierConfig) -> dict:
    return {"kind": "classifier", **asdict(config)}
