"""``train_classifier``: the small CNN of seed 001, trained on a labelled set to serve as a loss
network. Writes ``classifier.safetensors``, ``config.json`` and ``metrics.json`` (test accuracy).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from dfcvae.data import DataError, build_dataset
from dfcvae.errors import ConfigError
from dfcvae.io import write_json, write_tensors
from dfcvae.loss_networks.classifier import (
    WEIGHTS_FILE,
    ClassifierConfig,
    SmallClassifier,
    classifier_config_dict,
)
from dfcvae.training.interrupt import interruptible
from dfcvae.training.precision import resolve_precision
from dfcvae.training.run_dir import prepare_run_dir


class ClassifierModule(L.LightningModule):
    def __init__(self, config: ClassifierConfig, lr: float):
        super().__init__()
        self.model = SmallClassifier(config)
        self.lr = lr

    def _step(self, batch, stage: str) -> torch.Tensor:
        x, y = batch
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        accuracy = (logits.argmax(1) == y).float().mean()
        self.log_dict({f"{stage}/loss": loss, f"{stage}/accuracy": accuracy},
                      prog_bar=True, batch_size=x.shape[0])  # fmt: skip
        return loss

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self):
        """Adam with a one-cycle schedule: the learning rate ends near zero, so the weights
        settle and BatchNorm's running statistics (what the frozen loss network uses) fit them."""
        optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=self.lr, total_steps=int(self.trainer.estimated_stepping_batches)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def train_classifier(
    dataset: str,
    out: str | Path,
    *,
    root: str | None = None,
    image_size: int = 32,
    channels: int | None = None,
    epochs: int = 2,
    max_steps: int = -1,
    batch_size: int = 128,
    lr: float = 5e-3,
    seed: int = 0,
    limit: int | None = None,
    cache_dir: str | None = None,
    num_workers: int = 0,
    accelerator: str = "auto",
    precision: str = "auto",
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Train the classifier on the train split, report accuracy on the test split."""
    if lr <= 0 or batch_size < 1 or epochs < 1:
        raise ConfigError("--lr, --batch-size and --epochs must be positive")
    out = Path(out)
    prepare_run_dir(out, resume=False, force=force)
    L.seed_everything(seed, workers=True, verbose=False)
    common = dict(root=root, image_size=image_size, channels=channels, cache_dir=cache_dir,
                  limit=limit, progress=progress)  # fmt: skip
    train_set = build_dataset(dataset, split="train", augment=True, **common)
    if train_set.label_kind != "class":
        raise DataError(f"--dataset {dataset}: train-classifier needs class labels")
    val_set = build_dataset(dataset, split="valid", **common)
    test_set = build_dataset(dataset, split="test", **common)
    if batch_size > len(train_set):
        raise ConfigError(f"--batch-size {batch_size} exceeds the {len(train_set)} train images")
    config = ClassifierConfig(
        channels=train_set.channels,
        num_classes=len(train_set.label_names),
        class_names=list(train_set.label_names),
        dataset=dataset,
        image_size=image_size,
    )
    module = ClassifierModule(config, lr)
    loader = dict(batch_size=batch_size, num_workers=num_workers,
                  persistent_workers=num_workers > 0)  # fmt: skip
    trainer = L.Trainer(
        default_root_dir=out,
        max_epochs=epochs,
        max_steps=max_steps,
        accelerator=accelerator,
        devices=1,
        precision=resolve_precision(precision, accelerator),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
    )
    with interruptible(trainer):
        trainer.fit(
            module,
            DataLoader(train_set, shuffle=True, drop_last=True, **loader),
            DataLoader(val_set, **loader),
        )
        (result,) = trainer.test(module, DataLoader(test_set, **loader), verbose=progress)
    write_tensors(out / WEIGHTS_FILE, module.model.state_dict())
    write_json(out / "config.json", classifier_config_dict(config))
    write_json(out / "metrics.json", {"test_accuracy": result["test/accuracy"],
                                      "test_loss": result["test/loss"]})  # fmt: skip
    return out
