"""``train_classifier``: the small CNN of seed 001, trained on a labelled set to serve as a loss
network. Writes ``classifier.safetensors``, ``config.json`` and ``metrics.json`` (test accuracy
beside its majority-class baseline).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from dfcvae.data import CachedImageDataset, DataError
from dfcvae.errors import ConfigError, first_line
from dfcvae.files import write_json, write_tensors
from dfcvae.loss_networks.classifier import (
    WEIGHTS_FILE,
    ClassifierConfig,
    SmallClassifier,
    classifier_config_dict,
)
from dfcvae.training.classifier_config import ClassifierTrainConfig
from dfcvae.training.interrupt import interruptible
from dfcvae.training.precision import check_hardware
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
        self.log_dict(
            {f"{stage}/loss": loss, f"{stage}/accuracy": accuracy},
            prog_bar=True,
            batch_size=x.shape[0],
        )
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
    config: ClassifierTrainConfig, out: str | Path, *, force: bool = False, progress: bool = True
) -> Path:
    """Train the classifier on the train split, report accuracy on the test split."""
    config.validate()
    out = Path(out)
    trainer = classifier_trainer(config, out, progress)  # refuses a bad device before any file
    prepare_run_dir(out, resume=False, force=force)
    L.seed_everything(config.seed, workers=True, verbose=False)
    train_set, val_set, test_set = classifier_splits(config, progress)
    network = ClassifierConfig(
        channels=train_set.channels,
        num_classes=len(train_set.label_names),
        class_names=list(train_set.label_names),
        dataset=config.data.dataset,
        image_size=config.image_size,
    )
    module = ClassifierModule(network, config.lr)
    loader = dict(
        batch_size=config.batch_size,
        num_workers=config.data.num_workers,
        persistent_workers=config.data.num_workers > 0,
    )
    with interruptible(trainer):
        trainer.fit(
            module,
            DataLoader(train_set, shuffle=True, drop_last=True, **loader),
            DataLoader(val_set, **loader),
        )
        (result,) = trainer.test(module, DataLoader(test_set, **loader), verbose=progress)
    write_tensors(out / WEIGHTS_FILE, module.model.state_dict())
    write_json(out / "config.json", classifier_config_dict(network))
    write_json(
        out / "metrics.json",
        {
            "test_accuracy": result["test/accuracy"],
            "test_majority_baseline": majority_baseline(train_set.labels, test_set.labels),
            "test_loss": result["test/loss"],
        },
    )
    return out


def majority_baseline(train_labels, test_labels) -> float:
    """Test accuracy of always predicting the train split's most common class (the smallest of
    equally common ones), the number an accuracy is read against."""
    values, counts = np.unique(np.asarray(train_labels), return_counts=True)
    return float(np.mean(np.asarray(test_labels) == values[np.argmax(counts)]))


def classifier_splits(config: ClassifierTrainConfig, progress: bool) -> list[CachedImageDataset]:
    """The train (flipped where valid), valid and test splits; refuses unlabelled sets and a
    batch larger than the train split."""
    common = dict(image_size=config.image_size, channels=config.channels, progress=progress)
    train_set = config.data.build("train", augment=True, **common)
    if train_set.label_kind != "class":
        raise DataError(f"--dataset {config.data.dataset}: train-classifier needs class labels")
    if config.batch_size > len(train_set):
        raise ConfigError(
            f"--batch-size {config.batch_size} exceeds the {len(train_set)} train images"
        )
    return [train_set, config.data.build("valid", **common), config.data.build("test", **common)]


def classifier_trainer(config: ClassifierTrainConfig, out: Path, progress: bool) -> L.Trainer:
    """One device, no logger or checkpoints: the weights are written once, at the end. An
    accelerator or precision that Lightning or the hardware refuses is one line."""
    precision = check_hardware(config.precision, config.accelerator)
    try:
        return L.Trainer(
            default_root_dir=out,
            max_epochs=config.epochs,
            max_steps=config.max_steps,
            accelerator=config.accelerator,
            devices=1,
            precision=precision,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=progress,
            enable_model_summary=False,
        )
    except Exception as error:  # MisconfigurationException, ValueError, RuntimeError
        raise ConfigError(
            f"--accelerator {config.accelerator} --precision {config.precision}: "
            f"{first_line(error)}"
        ) from None
