"""Serialisable configs of a run: model, loss, data and training, plus the named presets.

A run directory's ``config.json`` holds a ``RunConfig``; ``RunConfig.from_dict`` rebuilds it and
refuses unknown keys or impossible values with one line naming the option.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomllib

from dfcvae.errors import ConfigError

IMAGE_SIZES = (32, 64, 128)
ARCHITECTURES = ("paper", "original-128")
RECONSTRUCTIONS = ("pixel", "feature", "mix", "ssim-colour")
PIXEL_LOSSES = ("sse", "bce")
KL_REDUCTIONS = ("mean", "sum")
PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "64-true")
MAX_PARAMETERS = 2**28  # about 1 GiB of fp32 weights; the paper's VAE has 2.3 million


@dataclass
class ModelConfig:
    """The VAE's shape. ``widths`` are the encoder's block widths; when empty they are
    ``base_width * 2**i``, one per block, as in the paper (32, 64, 128, 256).

    architecture:
      paper         the paper's net, generalised to 32, 64 or 128 pixels: the decoder mirrors
                    the encoder's widths (256 -> 128 -> 64 -> 32 -> C at 64 pixels)
      original-128  the original Torch code's 128-pixel net: encoder b, 2b, 4b, 8b, 8b (32, 64,
                    128, 256, 256) whose last block has BatchNorm but no activation; decoder
                    16b -> 8b -> 4b -> 2b -> b -> C (512 ... 32) with BatchNorm eps 1e-3
    decoder_relu: a ReLU after the decoder's Linear layer, as in the original code (both sizes);
      runs saved before this option existed had none and load with it off.
    """

    image_size: int = 64
    channels: int = 3
    latent_dim: int = 100
    base_width: int = 32
    widths: list[int] = field(default_factory=list)
    architecture: str = "paper"
    decoder_relu: bool = True

    @property
    def num_blocks(self) -> int:
        return int(math.log2(self.image_size)) - 2

    @property
    def bottleneck_size(self) -> int:
        return 4

    @property
    def block_widths(self) -> list[int]:
        """The encoder's widths, one per block."""
        if self.widths:
            return list(self.widths)
        widths = [self.base_width * 2**i for i in range(self.num_blocks)]
        if self.architecture == "original-128":
            widths[-1] = widths[-2]  # 32, 64, 128, 256, 256
        return widths

    @property
    def decoder_widths(self) -> list[int]:
        """Input widths of the decoder's blocks; the first is the Linear layer's output map
        (widths[-1] x 4 x 4). paper: the encoder's reversed; original-128: 2 * widths[-2] first."""
        widths = self.block_widths
        if self.architecture == "original-128":
            return [2 * widths[-2], *reversed(widths[:-1])]
        return list(reversed(widths))

    @property
    def parameter_estimate(self) -> int:
        """About how many parameters the VAE has: the 4x4 encoder and 3x3 decoder convolutions,
        and three linear layers at the 4x4 bottleneck."""
        widths, decoder = self.block_widths, self.decoder_widths
        encoder = sum(16 * a * b for a, b in zip([self.channels, *widths], widths))
        outs = [*decoder[1:], self.channels]
        convolutions = encoder + sum(9 * a * b for a, b in zip(decoder, outs))
        linear = self.bottleneck_size**2 * self.latent_dim * (2 * widths[-1] + decoder[0])
        return convolutions + linear

    def validate(self) -> None:
        if self.image_size not in IMAGE_SIZES:
            raise ConfigError(
                f"--image-size {self.image_size} is not supported: choose one of {IMAGE_SIZES}"
            )
        if self.channels not in (1, 3):
            raise ConfigError(f"channels={self.channels}: images must have 1 or 3 channels")
        if self.latent_dim < 1:
            raise ConfigError(f"--latent-dim {self.latent_dim}: the latent size must be at least 1")
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(
                f"model.architecture={self.architecture!r} is unknown: choose one of "
                f"{', '.join(ARCHITECTURES)}"
            )
        if self.architecture == "original-128" and self.image_size != 128:
            raise ConfigError(
                f"--image-size {self.image_size}: architecture 'original-128' is the original "
                "code's 128-pixel network; use --image-size 128 or architecture 'paper'"
            )
        if self.widths and len(self.widths) != self.num_blocks:
            raise ConfigError(
                f"model.widths has {len(self.widths)} entries; image size {self.image_size} "
                f"needs {self.num_blocks} (one per block)"
            )
        if any(w < 1 for w in self.block_widths):
            raise ConfigError("model.widths and model.base_width must be positive")
        if self.parameter_estimate > MAX_PARAMETERS:
            raise ConfigError(
                f"--latent-dim {self.latent_dim} with widths {self.block_widths}: about "
                f"{self.parameter_estimate:.2e} parameters, over the {MAX_PARAMETERS:.2e} limit"
            )


@dataclass
class LossConfig:
    """total = kl_weight * KL + recon_weight * reconstruction (alpha and beta in the paper).

    reconstruction:
      pixel        summed squared error (or BCE) per image, averaged over the batch (PVAE)
      feature      feature perceptual loss: sum_l w_l * mean((s * (phi_l(x) - phi_l(x_hat)))^2)
      mix          pixel_weight * per-element mean squared error + feature (seed 004)
      ssim-colour  (1 - SSIM) + colour_weight * MSE of 3x3 average-pooled images (seed 003)
    kl_reduction: "mean" averages the KL over the batch; "sum" sums it, as the original code.
    feature_scale: s above; None takes the loss network's own (docs/loss-scale.md).
    """

    reconstruction: str = "feature"
    pixel: str = "sse"
    loss_network: str = "vgg19"
    layers: list[str] = field(default_factory=lambda: ["relu1_1", "relu2_1", "relu3_1"])
    layer_weights: list[float] = field(default_factory=list)
    loss_weights: str | None = None
    loss_input_size: int | None = None
    kl_weight: float = 1.0
    kl_reduction: str = "sum"
    feature_scale: float | None = None
    recon_weight: float = 0.5
    pixel_weight: float = 1.0
    colour_weight: float = 1.0
    kl_warmup_steps: int = 0

    @property
    def uses_loss_network(self) -> bool:
        return self.reconstruction in ("feature", "mix")

    def validate(self) -> None:
        if self.reconstruction not in RECONSTRUCTIONS:
            raise ConfigError(
                f"loss.reconstruction={self.reconstruction!r} is unknown: choose one of "
                f"{', '.join(RECONSTRUCTIONS)}"
            )
        if self.pixel not in PIXEL_LOSSES:
            raise ConfigError(f"loss.pixel={self.pixel!r}: choose one of {', '.join(PIXEL_LOSSES)}")
        if self.kl_reduction not in KL_REDUCTIONS:
            raise ConfigError(
                f"loss.kl_reduction={self.kl_reduction!r}: choose one of {', '.join(KL_REDUCTIONS)}"
            )
        if self.feature_scale is not None and not (
            math.isfinite(self.feature_scale) and self.feature_scale > 0
        ):
            raise ConfigError(f"loss.feature_scale={self.feature_scale}: must be a number > 0")
        for name in ("kl_weight", "recon_weight", "pixel_weight", "colour_weight"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"loss.{name}={value}: must be a finite number >= 0")
        if self.kl_warmup_steps < 0:
            raise ConfigError(f"--kl-warmup-steps {self.kl_warmup_steps}: must be >= 0")
        if self.loss_input_size is not None and not 32 <= self.loss_input_size <= 1024:
            raise ConfigError(
                f"loss.loss_input_size={self.loss_input_size}: must lie in 32..1024 pixels"
            )
        if any(not math.isfinite(w) or w < 0 for w in self.layer_weights):
            raise ConfigError(f"loss.layer_weights={self.layer_weights}: each must be >= 0")
        if self.layer_weights and len(self.layer_weights) != len(self.layers):
            raise ConfigError(
                f"loss.layer_weights has {len(self.layer_weights)} entries for "
                f"{len(self.layers)} layers"
            )
        if self.uses_loss_network:
            from dfcvae.loss_networks import check_layers

            check_layers(self.loss_network, self.layers)


@dataclass
class DataConfig:
    dataset: str = "fashion-mnist"
    root: str | None = None
    crop: str = "default"
    labels_file: str | None = None
    cache_dir: str | None = None
    limit: int | None = None
    num_workers: int = 0

    def validate(self) -> None:
        from dfcvae.data import DATASETS

        if self.dataset not in DATASETS:
            raise ConfigError(
                f"--dataset {self.dataset!r} is unknown: choose one of {', '.join(DATASETS)}"
            )
        if self.dataset in ("celeba", "folder") and not self.root:
            raise ConfigError(f"--dataset {self.dataset} needs --data-root DIR")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit {self.limit}: must be at least 1")
        if self.num_workers < 0:
            raise ConfigError(f"--num-workers {self.num_workers}: must be >= 0")


@dataclass
class TrainConfig:
    """Paper defaults: Adam, lr 5e-4, beta1 0.5 (the original code), batch 64."""

    epochs: int = 5
    max_steps: int = -1
    batch_size: int = 64
    lr: float = 5e-4
    beta1: float = 0.5
    beta2: float = 0.999
    seed: int = 0
    precision: str = "auto"
    accelerator: str = "auto"
    devices: str = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    gradient_clip: float | None = None
    checkpoint_every_n_steps: int | None = None
    log_every_n_steps: int = 10
    val_batches: int | None = None
    deterministic: bool = False
    compile: bool = False

    def validate(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"--epochs {self.epochs}: must be at least 1")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ConfigError(
                f"--max-steps {self.max_steps}: must be positive (or -1 for no limit)"
            )
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size {self.batch_size}: must be at least 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"--lr {self.lr}: the learning rate must be a positive number")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"--seed {self.seed}: must lie in 0..{2**32 - 1}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError("train.beta1 and train.beta2 must lie in [0, 1)")
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"--precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}"
            )
        if self.num_nodes < 1:
            raise ConfigError(f"--num-nodes {self.num_nodes}: must be at least 1")
        if self.gradient_clip is not None and not self.gradient_clip > 0:
            raise ConfigError(f"--gradient-clip {self.gradient_clip}: must be positive")
        if self.checkpoint_every_n_steps is not None and self.checkpoint_every_n_steps < 1:
            raise ConfigError("--checkpoint-every-n-steps must be at least 1")
        if self.log_every_n_steps < 1:
            raise ConfigError(f"--log-every-n-steps {self.log_every_n_steps}: must be at least 1")
        if self.val_batches is not None and self.val_batches < 0:
            raise ConfigError(
                f"--val-batches {self.val_batches}: must be >= 0 (0 skips validation)"
            )


@dataclass
class RunConfig:
    preset: str = "vae-123"
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> RunConfig:
        for part in (self.model, self.loss, self.data, self.train):
            part.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> RunConfig:
        data = dict(data)
        parts = {"model": ModelConfig, "loss": LossConfig, "data": DataConfig, "train": TrainConfig}
        unknown = set(data) - {"preset", *parts}
        if unknown:
            raise ConfigError(f"{source}: unknown section(s) {sorted(unknown)}")
        kwargs: dict[str, Any] = {"preset": data.get("preset", "custom")}
        for name, klass in parts.items():
            kwargs[name] = _dataclass_from_dict(klass, data.get(name, {}), f"{source} [{name}]")
        return cls(**kwargs)


def _dataclass_from_dict(klass: type, values: dict[str, Any], where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a table of options")
    types = {f.name: f.type for f in fields(klass)}
    unknown = set(values) - set(types)
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {sorted(unknown)}; valid: {sorted(types)}")
    for name, value in values.items():
        if not _has_type(value, str(types[name])):
            raise ConfigError(f"{where}: {name} = {value!r} must be {types[name]}")
    return klass(**values)


def _has_type(value: Any, annotation: str) -> bool:
    """Whether ``value`` (from TOML, JSON or the CLI) fits a field annotation such as ``int``,
    ``float | None`` or ``list[str]``; an int is a float, a bool is not a number."""
    for option in annotation.split(" | "):
        if option == "None" and value is None:
            return True
        if option.startswith("list[") and isinstance(value, list):
            if all(_has_type(item, option[5:-1]) for item in value):
                return True
        if option in ("int", "float") and isinstance(value, int) and not isinstance(value, bool):
            return True
        if option == "float" and isinstance(value, float):
            return True
        if option in ("str", "bool") and type(value).__name__ == option:
            return True
    return False


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or JSON config file into a plain dict (one-line error if unreadable)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"--config {path}: cannot read it ({error.strerror})") from None
    try:
        return json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(
            f"--config {path}: not valid {path.suffix[1:] or 'TOML'} ({error})"
        ) from None


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Nested dict update: ``override``'s leaves win."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def with_model(config: RunConfig, **changes: Any) -> RunConfig:
    return replace(config, model=replace(config.model, **changes))
