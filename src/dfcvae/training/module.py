"""The LightningModule: one training step computes the DFC-VAE loss and logs its terms.

The Trainer owns loops, devices, precision, distributed work, checkpoints and progress bars.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.precision import MixedPrecision

from dfcvae.training.nonfinite import NonFiniteGuard
from dfcvae.vae.fast_paths import fuse_decoder
from dfcvae.vae.losses import DFCVAELoss, LossTerms
from dfcvae.vae.model import DFCVAE
from dfcvae.vae.run_config import RunConfig


class DFCVAEModule(L.LightningModule):
    """Wraps ``DFCVAE`` (its decoder fused: ``fast_paths.fuse_decoder``) and ``DFCVAELoss`` as
    ``config`` describes them.

    Checkpoints keep the config as the hyperparameter ``config`` (``RunConfig.to_dict()``), which
    ``load_from_checkpoint`` hands back as a dict: either form is accepted.
    """

    def __init__(self, config: RunConfig | dict[str, Any]):
        super().__init__()
        if not isinstance(config, RunConfig):
            config = RunConfig.from_dict(config)
        self.save_hyperparameters({"config": config.to_dict()})
        self.run_config = config
        self.vae = fuse_decoder(DFCVAE(self.run_config.model))
        self.criterion = DFCVAELoss(self.run_config.loss)
        self._configured = False

    # Convolutions run fastest channels-last (NHWC) in oneDNN (CPU) and cuDNN (tensor cores);
    # docs/benchmarks.md has the measurements. A class attribute so a benchmark can turn it off.
    memory_format = torch.channels_last

    def configure_model(self) -> None:
        """Before the Trainer moves, wraps (DDP) and optimises the model: lay the weights out in
        ``memory_format`` and, with ``train.compile``, compile the VAE and the loss network
        (``Module.compile`` keeps the state-dict keys, so checkpoints are unchanged)."""
        if self._configured:
            return
        self._configured = True
        self.vae.to(memory_format=self.memory_format)
        self.criterion.to(memory_format=self.memory_format)
        if self.run_config.train.compile:
            self.vae.compile()
            if self.criterion.loss_network is not None:
                self.criterion.loss_network.compile()

    def forward(self, x: torch.Tensor):
        return self.vae(x)

    def noise(self, n: int) -> torch.Tensor:
        """The reparameterisation noise of this step, a function of (seed, step, rank) alone, so
        a resumed run draws exactly what an uninterrupted one would."""
        seed = self.run_config.train.seed * 1_000_003 + self.global_step * 1009 + self.global_rank
        generator = torch.Generator(device=self.device).manual_seed(seed)
        shape = (n, self.run_config.model.latent_dim)
        return torch.randn(shape, generator=generator, device=self.device)

    def _step(self, batch: Any, stage: str) -> LossTerms:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        x = x.contiguous(memory_format=self.memory_format)
        out = self.vae(x, self.noise(x.shape[0]) if stage == "train" else None)
        terms = self.criterion(x, out, self.global_step)
        if stage == "train":  # a non-finite loss stops the run (training/nonfinite.py)
            self.guard.loss(self.global_step, terms.total, terms.kl, terms.reconstruction)
            if self.guard.due(self.global_step):
                self.guard.check()
        logs = {
            f"{stage}/kl": terms.kl,
            f"{stage}/reconstruction": terms.reconstruction,
            **{f"{stage}/{k}": v for k, v in terms.parts.items()},
        }
        on_step = stage == "train"
        self.log_dict(
            logs, on_step=on_step, on_epoch=True, batch_size=x.shape[0], sync_dist=not on_step
        )
        self.log(
            f"{stage}/total",
            terms.total,
            prog_bar=True,
            on_step=on_step,
            on_epoch=True,
            batch_size=x.shape[0],
            sync_dist=not on_step,
        )
        if stage == "train":  # torch.full, not the float: Lightning would torch.tensor it
            alpha = torch.full((), terms.alpha, device=self.device)
            self.log("train/kl_weight", alpha, on_step=True, on_epoch=False)
        return terms

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train").total

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "val")

    @property
    def guard(self) -> NonFiniteGuard:
        """Watches for non-finite losses and gradients, and for an fp16 scaler that keeps
        skipping (``training/nonfinite.py``); made on the first use on this module's device."""
        if getattr(self, "_guard", None) is None or self._guard.device != self.device:
            self._guard = NonFiniteGuard(self.device)
        return self._guard

    def _scaler(self) -> torch.amp.GradScaler | None:
        trainer = self._trainer
        return getattr(trainer.precision_plugin, "scaler", None) if trainer is not None else None

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """After the scaler unscaled the gradients (when it does), before clipping and the step."""
        self.guard.gradients((p.grad for p in self.vae.parameters()), self._scaler())
        if self.guard.due(self.global_step):
            self.guard.check()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.guard.after_step(self._scaler())
        if self.guard.due(self.global_step):
            self.guard.check()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.guard.check()  # never write a checkpoint after a bad step

    def on_train_end(self) -> None:
        self.guard.check()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        cfg = self.run_config.train
        params = list(self.vae.parameters())
        # One fused kernel for all parameters instead of a Python loop over them. Lightning's
        # mixed-precision plugin (16-mixed and bf16-mixed alike) refuses to clip the gradients
        # of a fused optimizer, which would unscale them inside its own step: with
        # --gradient-clip under mixed precision, the plain (foreach) Adam.
        plugin = self._trainer.precision_plugin if self._trainer is not None else None
        clipped_mixed = isinstance(plugin, MixedPrecision) and cfg.gradient_clip is not None
        fused = all(p.device.type in ("cpu", "cuda") for p in params) and not clipped_mixed
        return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused)
