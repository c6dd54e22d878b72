"""``ClassifierTrainConfig``: how ``dfcvae train-classifier`` trains the small classifier loss
network; its fields are the command's flags, with their defaults and help."""

from __future__ import annotations

from dataclasses import dataclass, field

from dfcvae.config import (
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_SEED,
    MAX_STEPS,
    PRECISIONS,
    check_fields,
    option,
)
from dfcvae.data.config import DataConfig
from dfcvae.errors import ConfigError

MIN_IMAGE_SIZE = 4  # the classifier halves its input twice
MAX_IMAGE_SIZE = 1024


@dataclass
class ClassifierTrainConfig:
    """Adam with a one-cycle schedule peaking at ``lr``; 32-pixel Fashion-MNIST by default."""

    data: DataConfig = field(default_factory=DataConfig)
    image_size: int = option(
        32, help="32, 64 (the paper) or 128", at_least=MIN_IMAGE_SIZE, at_most=MAX_IMAGE_SIZE
    )
    channels: int | None = option(None, choices=(1, 3), help="default: the data set's own")
    epochs: int = option(2, at_least=1, at_most=MAX_EPOCHS)
    max_steps: int = option(-1, at_least=1, at_most=MAX_STEPS, also=(-1,), help="-1: no limit")
    batch_size: int = option(128, at_least=1, at_most=MAX_BATCH_SIZE)
    lr: float = option(5e-3, help="peak of the one-cycle schedule", above=0, at_most=1)
    seed: int = option(0, at_least=0, at_most=MAX_SEED)
    accelerator: str = option("auto", help="auto, cpu or gpu")
    precision: str = option("auto", help="auto, 32-true, bf16-mixed, 16-mixed")

    def validate(self) -> ClassifierTrainConfig:
        check_fields(self)
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"--precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}"
            )
        self.data.validate()
        return self
