"""dfcvae: Deep Feature Consistent Variational Autoencoders (Hou, Shen, Sun, Qiu, WACV 2017).

The public names are imported on first use (PEP 562), so that ``import dfcvae`` and
``dfcvae --help`` do not pay for torch, torchvision and Lightning; ``from dfcvae import DFCVAE``
and ``dfcvae.DFCVAE`` work as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> the module that defines it.
_EXPORTS = {
    "DFCVAE": "dfcvae.vae.model",
    "DFCVAELoss": "dfcvae.vae.losses",
    "PRESETS": "dfcvae.vae.presets",
    "DataConfig": "dfcvae.data.config",
    "LossConfig": "dfcvae.vae.loss_config",
    "ModelConfig": "dfcvae.vae.model_config",
    "PerceptualLoss": "dfcvae.vae.perceptual",
    "RunConfig": "dfcvae.vae.run_config",
    "TrainConfig": "dfcvae.config",
    "VAEOutput": "dfcvae.vae.model",
    "config_from_preset": "dfcvae.vae.presets",
    "feature_loss": "dfcvae.vae.losses",
    "from_pretrained": "dfcvae.saved.pretrained",
    "kl_divergence": "dfcvae.vae.losses",
    "load": "dfcvae.saved.model_files",
    "load_run": "dfcvae.saved.model_files",
    "pixel_loss": "dfcvae.vae.losses",
    "save_model": "dfcvae.saved.model_files",
    "save_pretrained": "dfcvae.saved.pretrained",
    "ssim_colour_loss": "dfcvae.vae.losses",
    "train": "dfcvae.training.trainer",
    "__version__": "dfcvae.version",
}

__all__ = [
    "DFCVAE",
    "DFCVAELoss",
    "DataConfig",
    "LossConfig",
    "ModelConfig",
    "PRESETS",
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
]  # the keys of _EXPORTS (tests/test_cli.py checks it)

if TYPE_CHECKING:
    from dfcvae.config import TrainConfig
    from dfcvae.data.config import DataConfig
    from dfcvae.saved.model_files import load, load_run, save_model
    from dfcvae.saved.pretrained import from_pretrained, save_pretrained
    from dfcvae.training.trainer import train
    from dfcvae.vae.loss_config import LossConfig
    from dfcvae.vae.losses import (
        DFCVAELoss,
        feature_loss,
        kl_divergence,
        pixel_loss,
        ssim_colour_loss,
    )
    from dfcvae.vae.model import DFCVAE, VAEOutput
    from dfcvae.vae.model_config import ModelConfig
    from dfcvae.vae.perceptual import PerceptualLoss
    from dfcvae.vae.presets import PRESETS, config_from_preset
    from dfcvae.vae.run_config import RunConfig


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dfcvae' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
