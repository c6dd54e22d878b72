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
    "DFCVAE": "dfcvae.model",
    "DFCVAELoss": "dfcvae.losses",
    "PRESETS": "dfcvae.presets",
    "DataConfig": "dfcvae.data.config",
    "LossConfig": "dfcvae.loss_config",
    "ModelConfig": "dfcvae.model_config",
    "PerceptualLoss": "dfcvae.perceptual",
    "RunConfig": "dfcvae.run_config",
    "TrainConfig": "dfcvae.config",
    "VAEOutput": "dfcvae.model",
    "config_from_preset": "dfcvae.presets",
    "feature_loss": "dfcvae.losses",
    "from_pretrained": "dfcvae.pretrained",
    "kl_divergence": "dfcvae.losses",
    "load": "dfcvae.io",
    "load_run": "dfcvae.io",
    "pixel_loss": "dfcvae.losses",
    "save_model": "dfcvae.io",
    "save_pretrained": "dfcvae.pretrained",
    "ssim_colour_loss": "dfcvae.losses",
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
    from dfcvae.io import load, load_run, save_model
    from dfcvae.loss_config import LossConfig
    from dfcvae.losses import DFCVAELoss, feature_loss, kl_divergence, pixel_loss, ssim_colour_loss
    from dfcvae.model import DFCVAE, VAEOutput
    from dfcvae.model_config import ModelConfig
    from dfcvae.perceptual import PerceptualLoss
    from dfcvae.presets import PRESETS, config_from_preset
    from dfcvae.pretrained import from_pretrained, save_pretrained
    from dfcvae.run_config import RunConfig
    from dfcvae.training.trainer import train


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dfcvae' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
