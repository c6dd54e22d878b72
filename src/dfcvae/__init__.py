"""dfcvae: Deep Feature Consistent Variational Autoencoders (Hou, Shen, Sun, Qiu, WACV 2017)."""

from dfcvae.config import TrainConfig
from dfcvae.data.config import DataConfig
from dfcvae.io import load, load_run, save_model
from dfcvae.loss_config import LossConfig
from dfcvae.losses import DFCVAELoss, feature_loss, kl_divergence, pixel_loss, ssim_colour_loss
from dfcvae.model import DFCVAE, VAEOutput
from dfcvae.model_config import ModelConfig
from dfcvae.perceptual import PerceptualLoss
from dfcvae.presets import PRESETS, config_from_preset
from dfcvae.pretrained import from_pretrained, save_pretrained
from dfcvae.run_config import RunConfig
from dfcvae.version import __version__

__all__ = [
    "DFCVAE",
    "DFCVAELoss",
    "PRESETS",
    "DataConfig",
    "LossConfig",
    "ModelConfig",
    "PerceptualLoss",
    "RunConfig",
    "TrainConfig",
    "VAEOutput",
    "__version__",
    "config_from_preset",
    "feature_loss",
    "from_pretrained",
    "kl_divergence",
    "load",
    "load_run",
    "pixel_loss",
    "save_model",
    "save_pretrained",
    "ssim_colour_loss",
    "train",
]


def __getattr__(name: str):
    # Lazy: importing the training engine pulls in Lightning, which analysis code rarely needs.
    if name == "train":
        from dfcvae.training.trainer import train

        return train
    raise AttributeError(name)
