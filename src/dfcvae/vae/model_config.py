"""``ModelConfig``: the VAE's shape, serialisable, beside ``model.py`` that builds it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from dfcvae.config import check_fields, option
from dfcvae.errors import ConfigError

IMAGE_SIZES = (32, 64, 128)
ARCHITECTURES = ("paper", "original-128")
MAX_LATENT_DIM = 65_536
MAX_WIDTH = 65_536  # channels of a block; the parameter limit below is the real bound
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

    image_size: int = option(64, help="32, 64 (the paper) or 128", at_least=32, at_most=128)
    channels: int = option(
        3,
        choices=(1, 3),
        help="default: the data set's own (1 for fashion-mnist and mnist, else 3)",
    )
    latent_dim: int = option(100, at_least=1, at_most=MAX_LATENT_DIM, help="size of z")
    base_width: int = option(32, cli=False, at_least=1, at_most=MAX_WIDTH)
    widths: list[int] = option(cli=False, factory=list, at_least=1, at_most=MAX_WIDTH)
    architecture: str = option("paper", help="paper (default) or original-128 (the original code)")
    decoder_relu: bool = option(
        True, help="a ReLU after the decoder's Linear layer, as in the original code"
    )

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
        check_fields(self, "model")
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
        if self.parameter_estimate > MAX_PARAMETERS:
            raise ConfigError(
                f"--latent-dim {self.latent_dim} with widths {self.block_widths}: about "
                f"{self.parameter_estimate:.2e} parameters, over the {MAX_PARAMETERS:.2e} limit"
            )
