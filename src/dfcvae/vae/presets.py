"""Named presets: the paper's models and the variants from its reproductions.

A preset is a partial config; ``config_from_preset`` fills the rest with the defaults and lets a
config file and the command line override any value.
"""

from __future__ import annotations

from typing import Any

from dfcvae.config import merge
from dfcvae.data.build import GRAYSCALE_DATASETS
from dfcvae.errors import ConfigError
from dfcvae.loss_networks.classifier import CLASSIFIER
from dfcvae.loss_networks.vgg import VGG19
from dfcvae.vae.run_config import RunConfig

# Chosen on Fashion-MNIST by benchmarks/loss_defaults.py; docs/loss-scale.md has the sweeps.
SSIM_COLOUR_KL_WEIGHT = 0.003
MIX_KL_WEIGHT = 0.004

PRESETS: dict[str, dict[str, Any]] = {
    # Plain VAE with a pixel loss, the paper's baseline: the per-image ELBO (KL averaged over the
    # batch, squared error summed over an image's pixels), alpha = beta = 1.
    "pvae": {
        "loss": {
            "reconstruction": "pixel",
            "pixel": "sse",
            "recon_weight": 1.0,
            "kl_reduction": "mean",
        }
    },
    "pvae-bce": {
        "loss": {
            "reconstruction": "pixel",
            "pixel": "bce",
            "recon_weight": 1.0,
            "kl_reduction": "mean",
        }
    },
    # The paper's DFC-VAEs: VGG19 loss network, alpha = 1, beta = 0.5 with the original code's
    # reductions (KL summed over the batch, features on Caffe's 0-255 scale): docs/loss-scale.md.
    "vae-123": {"loss": {"loss_network": "vgg19", "layers": ["relu1_1", "relu2_1", "relu3_1"]}},
    "vae-345": {"loss": {"loss_network": "vgg19", "layers": ["relu3_1", "relu4_1", "relu5_1"]}},
    "vae-all": {"loss": {"loss_network": "vgg19", "layers": list(VGG19.layers)}},
    # ImageNet MobileNetV2 as loss network (weights available offline); taps at 1/2, 1/4, 1/8.
    # The same form as the paper's presets, with MobileNetV2's own feature scale.
    "vae-mobilenet": {
        "loss": {"loss_network": "mobilenet_v2", "layers": ["block1", "block3", "block6"]}
    },
    # A small classifier trained by `dfcvae train-classifier` as loss network (seed 001).
    "vae-classifier": {"loss": {"loss_network": "classifier", "layers": list(CLASSIFIER.layers)}},
    # SSIM plus colour loss instead of a feature loss (seed 003); alpha from docs/loss-scale.md.
    "ssim-colour": {
        "loss": {
            "reconstruction": "ssim-colour",
            "recon_weight": 1.0,
            "kl_reduction": "mean",
            "kl_weight": SSIM_COLOUR_KL_WEIGHT,
        }
    },
    # Pixel plus VGG19 feature loss over five relus (seed 004): 0.5 * (pixel MSE + feature MSE),
    # both per-element means of plain features, plus alpha * KL averaged over the batch.
    "vae-mix": {
        "loss": {
            "reconstruction": "mix",
            "loss_network": "vgg19",
            "layers": ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
            "kl_reduction": "mean",
            "feature_scale": 1.0,
            "kl_weight": MIX_KL_WEIGHT,
        }
    },
}


def config_from_preset(name: str, overrides: dict[str, Any] | None = None) -> RunConfig:
    """The preset's config with ``overrides`` (a nested dict, e.g. from a TOML file) on top.
    Unless they set ``model.channels``, the model takes the data set's own: 1 for the grayscale
    sets (Fashion-MNIST, MNIST), else 3."""
    if name not in PRESETS:
        raise ConfigError(f"--preset {name!r} is unknown: choose one of {', '.join(PRESETS)}")
    data = merge(merge(RunConfig().to_dict(), PRESETS[name]), overrides or {})
    data["preset"] = name
    if "channels" not in (overrides or {}).get("model", {}):
        data["model"]["channels"] = 1 if data["data"]["dataset"] in GRAYSCALE_DATASETS else 3
    return RunConfig.from_dict(data)
