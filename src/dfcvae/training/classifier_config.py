"""``ClassifierTrainConfig``: how ``dfcvae train-classifier`` trains the small classifier loss
network; its fields are the command's flags, with their defaults and help."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from dfcvae.config import (
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_STEPS,
    check_bounds,
    option,
)
from dfcvae.data.config import DataConfig
from dfcvae.errors import ConfigError

MAX_IMAGE_SIZE = 1024


@dataclass
class ClassifierTrainConfig:
    """Adam with a one-cycle schedule peaking at ``lr``; 32-pixel Fashion-MNIST by default."""

    data: DataConfig = field(default_factory=DataConfig)
    image_size: int = option(32, help="32, 64 (the paper) or 128", max=MAX_IMAGE_SIZE)
    channels: int | None = option(None, choices=(1, 3), help="default: the data set's own")
    epochs: int = option(2, max=MAX_EPOCHS)
    max_steps: int = option(-1, max=MAX_STEPS)
    batch_size: int = option(128, max=MAX_BATCH_SIZE)
    lr: float = option(5e-3, help="peak of the one-cycle schedule")
    seed: int = option(0)
    accelerator: str = option("auto")
    precision: str = option("auto")

    def validate(self) -> ClassifierTrainConfig:
        if not (math.isfinite(self.lr) and self.lr > 0) or self.batch_size < 1 or self.epochs < 1:
            raise ConfigError("--lr, --batch-size and --epochs must be positive")
        self.data.validate()
        check_bounds(self)
        return self
