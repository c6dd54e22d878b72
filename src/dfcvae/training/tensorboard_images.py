"""Pictures of a run as it trains, in TensorBoard beside the loss curves.

Every ``every`` steps: the reconstructions of a fixed set of validation images (odd rows the
images, even rows their reconstructions, as ``dfcvae reconstruct`` draws them) and samples
decoded from a fixed z ~ N(0, I), so one image tag shows the same inputs and the same draws
improving step by step. When training ends: the latent means μ of up to ``embedding_images``
validation images, with the images as thumbnails and their labels as metadata, for
TensorBoard's projector.

Everything is computed in eval mode without gradients (BatchNorm statistics untouched), outside
autocast in the weights' own dtype (fp32 under the mixed precisions, bf16 under bf16-true), and
only on global rank zero. ``TrainConfig.tensorboard_images_every`` sets ``every`` (0: none).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torchvision.utils import make_grid

from dfcvae.vae.model import evaluating

SAMPLE_SEED = 20170201  # the fixed draws z of the "samples" image


class TensorBoardImages(L.Callback):
    def __init__(self, every: int, n_images: int = 16, embedding_images: int = 512):
        self.every = every
        self.n_images = n_images
        self.embedding_images = embedding_images
        self._images: torch.Tensor | None = None
        self._labels: torch.Tensor | None = None

    @staticmethod
    def writer(trainer: L.Trainer):
        """The SummaryWriter of the run's TensorBoard logger, or None without one."""
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                return logger.experiment
        return None

    def validation_images(self, trainer: L.Trainer) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The first ``embedding_images`` images of the valid split (and their labels), read
        once: the same images at every step."""
        if self._images is None:
            images, labels = [], []
            for batch in trainer.datamodule.val_dataloader():
                x, y = batch if isinstance(batch, (list, tuple)) else (batch, None)
                images.append(x)
                labels.append(y)
                if sum(len(part) for part in images) >= self.embedding_images:
                    break
            self._images = torch.cat(images)[: self.embedding_images]
            if all(y is not None for y in labels):
                self._labels = torch.cat(labels)[: self.embedding_images]
        return self._images, self._labels

    @torch.no_grad()
    def log_pictures(self, trainer: L.Trainer, pl_module: L.LightningModule, step: int) -> None:
        writer = self.writer(trainer)
        if writer is None:
            return
        dtype = next(pl_module.vae.parameters()).dtype
        x = self.validation_images(trainer)[0][: self.n_images].to(pl_module.device, dtype)
        draws = torch.Generator().manual_seed(SAMPLE_SEED)
        z = torch.randn(self.n_images, pl_module.vae.config.latent_dim, generator=draws)
        with evaluating(pl_module.vae) as vae, torch.autocast(x.device.type, enabled=False):
            recon = vae.decode(vae.encode(x)[0])
            samples = vae.decode(z.to(pl_module.device, dtype))
        x, recon, samples = (t.float().clamp(0, 1) for t in (x, recon, samples))
        nrow = max(1, int(self.n_images**0.5))
        rows = [
            part for i in range(0, len(x), nrow) for part in (x[i : i + nrow], recon[i : i + nrow])
        ]
        writer.add_image("reconstructions", make_grid(torch.cat(rows).cpu(), nrow=nrow), step)
        writer.add_image("samples", make_grid(samples.cpu(), nrow=nrow), step)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        step = trainer.global_step
        if self.every and trainer.is_global_zero and step % self.every == 0:
            self.log_pictures(trainer, pl_module, step)

    @torch.no_grad()
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = self.writer(trainer) if trainer.is_global_zero else None
        if writer is None or not self.every:
            return
        images, labels = self.validation_images(trainer)
        dtype = next(pl_module.vae.parameters()).dtype
        device = pl_module.device
        with evaluating(pl_module.vae) as vae, torch.autocast(device.type, enabled=False):
            mu = torch.cat([vae.encode(part.to(device, dtype))[0] for part in images.split(128)])
        names = list(getattr(trainer.datamodule, "label_names", None) or [])
        metadata = None
        if labels is not None and labels.dim() == 1 and bool((labels >= 0).all()):
            metadata = [names[k] if k < len(names) else str(k) for k in labels.tolist()]
        writer.add_embedding(
            mu.float().cpu(),
            metadata=metadata,
            label_img=images.float(),
            global_step=trainer.global_step,
            tag="mu",
        )
