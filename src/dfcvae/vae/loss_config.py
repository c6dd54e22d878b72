"""``LossConfig``: which reconstruction loss and how it is weighted, beside ``losses.py``.

``validate`` checks the layers against the loss-network registry, so this module sits above
``dfcvae.loss_networks``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dfcvae.config import MAX_STEPS, check_fields, option
from dfcvae.errors import ConfigError
from dfcvae.loss_networks import check_layers

RECONSTRUCTIONS = ("pixel", "feature", "mix", "ssim-colour")
PIXEL_LOSSES = ("sse", "bce")
KL_REDUCTIONS = ("mean", "sum")


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
    pixel: str = option("sse", choices=PIXEL_LOSSES, help="pixel loss of the PVAE")
    loss_network: str = option("vgg19", help="vgg19, mobilenet_v2 or classifier")
    layers: list[str] = option(
        help="e.g. relu1_1,relu2_1,relu3_1", factory=lambda: ["relu1_1", "relu2_1", "relu3_1"]
    )
    layer_weights: list[float] = option(cli=False, factory=list, at_least=0)
    loss_weights: str | None = option(
        None,
        help="weights file, classifier folder, or 'random' (timing); default: the loss "
        "network's published weights",
    )
    loss_input_size: int | None = option(None, cli=False, at_least=32, at_most=1024)
    kl_weight: float = option(1.0, help="alpha (the preset's; 1 in the paper's)", at_least=0)
    kl_reduction: str = option(
        "sum",
        choices=KL_REDUCTIONS,
        help="sum: the KL summed over the batch, as the original code; mean: averaged over it",
    )
    feature_scale: float | None = option(
        None,
        help="multiplies the loss network's features (default: the network's own)",
        above=0,
    )
    recon_weight: float = option(0.5, help="beta (0.5 for feature losses)", at_least=0)
    pixel_weight: float = option(1.0, cli=False, at_least=0)
    colour_weight: float = option(1.0, cli=False, at_least=0)
    kl_warmup_steps: int = option(
        0, help="ramp alpha from 0 over N steps", at_least=0, at_most=MAX_STEPS
    )

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
        check_fields(self, "loss")
        if self.layer_weights and len(self.layer_weights) != len(self.layers):
            raise ConfigError(
                f"loss.layer_weights has {len(self.layer_weights)} entries for "
                f"{len(self.layers)} layers"
            )
        if self.uses_loss_network:
            check_layers(self.loss_network, self.layers)
