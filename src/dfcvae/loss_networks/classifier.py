"""A small CNN classifier trained by the project on a labelled data set (seed 001's approach),
then used as the loss network. ``dfcvae train-classifier`` writes a folder holding
``classifier.safetensors`` and ``config.json``; pass that folder as ``--loss-weights``.

features: [conv3x3 -> BN -> relu1 -> maxpool] [conv3x3 -> BN -> relu2 -> maxpool]
[conv3x3 -> BN -> relu3], then global average pooling and a linear head.
Layers relu1 (1/1), relu2 (1/2), relu3 (1/4) are the taps.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from dfcvae.errors import WeightsError
from dfcvae.loss_networks.base import LossNetworkSpec
from dfcvae.loss_networks.weights import RANDOM, load_weights_file

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
            nn.Conv2d(config.channels, w1, 3, padding=1), nn.BatchNorm2d(w1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(w1, w2, 3, padding=1), nn.BatchNorm2d(w2), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(w2, w3, 3, padding=1), nn.BatchNorm2d(w3), nn.ReLU(inplace=True),
        )  # fmt: skip
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(w3, config.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features((x - 0.5) / 0.5))


def read_classifier(path: str | Path) -> tuple[ClassifierConfig, dict[str, torch.Tensor] | None]:
    """Config and weights from a ``train-classifier`` folder (or its safetensors file)."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    config_file = folder / "config.json"
    try:
        data = json.loads(config_file.read_text())
        config = ClassifierConfig(**{k: v for k, v in data.items() if k != "kind"})
    except (OSError, json.JSONDecodeError, TypeError) as error:
        raise WeightsError(
            f"{config_file}: not a classifier made by `dfcvae train-classifier` ({error})"
        ) from None
    weights = folder / WEIGHTS_FILE if path.is_dir() else path
    return config, load_weights_file(weights)


def classifier_spec(weights: str | None) -> tuple[LossNetworkSpec, dict[str, torch.Tensor] | None]:
    """The spec of a trained classifier (``weights`` is its folder) and its state dict."""
    if not weights:
        raise WeightsError(
            "the classifier loss network needs --loss-weights DIR: train one first with "
            "`dfcvae train-classifier --dataset NAME --out DIR`"
        )
    if weights == RANDOM:
        config, state = ClassifierConfig(), None
    else:
        config, state = read_classifier(weights)

    def build(state_dict: dict[str, torch.Tensor] | None) -> nn.Sequential:
        model = SmallClassifier(config)
        if state_dict is not None:
            try:
                model.load_state_dict(state_dict)
            except RuntimeError as error:
                raise WeightsError(
                    f"{weights}: weights do not fit the classifier ({error})"
                ) from None
        return model.features

    spec = LossNetworkSpec(
        name="classifier",
        description="small CNN classifier trained by `dfcvae train-classifier`",
        layers=CLASSIFIER_LAYERS,
        build=build,
        weights=None,
        mean=(0.5,) * config.channels,
        std=(0.5,) * config.channels,
        in_channels=config.channels,
        min_size=8,
        feature_scale=FEATURE_SCALE,
    )
    return spec, state


def classifier_config_dict(config: ClassifierConfig) -> dict:
    return {"kind": "classifier", **asdict(config)}
