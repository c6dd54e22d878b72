"""Training never collapses silently: a callback that measures latent usage and warns once.

Every ``every`` steps, once the KL warm-up is over and the decoder has had ``grace`` steps to
learn anything at all, the callback encodes the step's batch (eval mode, no gradients, so
BatchNorm statistics are untouched), logs ``train/active_units`` and ``train/spread``, and warns in
one line the first time ``dfcvae.vae.collapse`` calls it collapsed.
"""

from __future__ import annotations

import warnings
from typing import Any

import lightning as L
import torch

from dfcvae.vae.collapse import LatentUsage, latent_usage
from dfcvae.vae.model import evaluating


class KLCollapseWarning(UserWarning):
    """The KL term has pushed the posterior onto the prior: reconstructions no longer differ."""


class CollapseMonitor(L.Callback):
    def __init__(self, every: int = 50, grace: int = 100):
        self.every = every
        self.grace = grace
        self.warned = False

    def due(self, step: int, warmup: int) -> bool:
        return step >= warmup + self.grace and step % self.every == 0

    @torch.no_grad()
    def measure(self, pl_module: L.LightningModule, x: torch.Tensor) -> LatentUsage:
        with evaluating(pl_module.vae) as vae:
            mu, logvar = vae.encode(x)
            recon = vae.decode(mu)
        return latent_usage(mu, logvar, recon, x)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        step = trainer.global_step
        loss = pl_module.run_config.loss
        if not self.due(step, loss.kl_warmup_steps):
            return
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        if x.shape[0] < 2:
            return
        usage = self.measure(pl_module, x)
        pl_module.log_dict(
            {"train/active_units": float(usage.active_units), "train/spread": usage.spread},
            on_step=True,
            on_epoch=False,
        )
        if usage.collapsed and not self.warned and trainer.is_global_zero:
            self.warned = True
            warnings.warn(
                f"step {step}: the KL term is collapsing the latent code ({usage.describe()}): "
                f"lower --kl-weight (now {loss.kl_weight:g}) or ramp it in with "
                "--kl-warmup-steps",
                KLCollapseWarning,
                stacklevel=2,
            )
