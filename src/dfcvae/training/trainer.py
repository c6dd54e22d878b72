"""``train(config, out)``: build the data, the model and a Lightning Trainer, fit, save.

The run directory (``run_dir.py``) holds ``config.json``, ``model.safetensors`` (the final VAE
weights), ``checkpoints/`` (per epoch, ``last.ckpt`` and, if asked, every N steps; see
``resume.py``) and ``logs/`` (CSV) plus ``tensorboard/``. A full disk or an unwritable folder is
one line, before training where it can be checked (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import lightning as L
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from dfcvae.config import TrainConfig
from dfcvae.errors import ConfigError, RunDirError, first_line
from dfcvae.files import CONFIG_FILE, write_json
from dfcvae.saved.model_files import config_document, save_model
from dfcvae.training.collapse_monitor import CollapseMonitor
from dfcvae.training.interrupt import interruptible
from dfcvae.training.module import DFCVAEModule
from dfcvae.training.precision import check_devices, check_hardware
from dfcvae.training.resume import AtomicCheckpointIO, ExactResume, resume_checkpoint
from dfcvae.training.resume_checks import announce_resume, check_same_run
from dfcvae.training.run_dir import (
    CHECKPOINT_DIR,
    check_room_for_checkpoints,
    is_launcher_rank_zero,
    keep_earlier_logs,
    merge_logs,
    prepare_run_dir,
    removed_on_failure,
)
from dfcvae.training.tensorboard_images import TensorBoardImages
from dfcvae.vae.run_config import RunConfig

# Lightning's messages that say nothing a user of dfcvae can act on: the model summary's size
# estimate under bf16, and the logging interval of a short epoch (the epoch's mean is logged).
QUIET_WARNINGS = (
    r".*is not supported by the model summary.*",
    r".*smaller than the logging interval.*",
)


class ProgressBar(TQDMProgressBar):
    """Lightning's bar without ``v_num``: the loggers' version is a folder name here
    ("tensorboard"), which the bar would show cut to ``v_num=oard``."""

    def get_metrics(self, trainer, pl_module):
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics


def checkpoint_callbacks(cfg: TrainConfig, out: Path) -> list[Callback]:
    """A checkpoint per epoch and ``last.ckpt``, and one every ``checkpoint_every_n_steps``."""
    callbacks: list[Callback] = [
        ModelCheckpoint(
            dirpath=out / CHECKPOINT_DIR,
            filename="epoch{epoch:03d}-step{step:07d}",
            auto_insert_metric_name=False,
            save_top_k=-1,
            every_n_epochs=1,
            save_last=True,
            save_on_train_epoch_end=True,
            enable_version_counter=False,
        )
    ]
    if cfg.checkpoint_every_n_steps:
        callbacks.append(
            ModelCheckpoint(
                dirpath=out / CHECKPOINT_DIR,
                filename="step{step:07d}",
                auto_insert_metric_name=False,
                every_n_train_steps=cfg.checkpoint_every_n_steps,
                save_top_k=1,
                save_last=True,
                enable_version_counter=False,  # both callbacks write last.ckpt: the newest wins
            )
        )
    return callbacks


def build_trainer(config: RunConfig, out: Path, progress: bool = True) -> L.Trainer:
    """The Lightning Trainer of a run in ``out``: checkpoints, exact resume, collapse warnings,
    CSV and TensorBoard logs. A device, strategy or precision it refuses is one line."""
    cfg = config.train
    # Lightning runs ModelCheckpoint callbacks after the others, whatever their place here.
    callbacks = [ExactResume(), CollapseMonitor(), *checkpoint_callbacks(cfg, out)]
    if cfg.tensorboard_images_every:
        callbacks.append(TensorBoardImages(cfg.tensorboard_images_every))
    if progress:
        callbacks.append(ProgressBar())
    precision = check_hardware(cfg.precision, cfg.accelerator, cfg.devices)
    check_devices(cfg.devices, cfg.strategy)
    try:
        return L.Trainer(
            default_root_dir=out,
            max_epochs=cfg.epoch_limit(),
            max_steps=cfg.max_steps,
            accelerator=cfg.accelerator,
            devices=cfg.devices,  # "auto", a count or a list like "0,1": Lightning parses it
            strategy=cfg.strategy,
            num_nodes=cfg.num_nodes,
            precision=precision,
            gradient_clip_val=cfg.gradient_clip,
            deterministic=cfg.deterministic,
            callbacks=callbacks,
            plugins=[AtomicCheckpointIO()],
            logger=[
                CSVLogger(out, name="", version="logs"),
                TensorBoardLogger(out, name="", version="tensorboard", default_hp_metric=False),
            ],
            enable_progress_bar=progress,
            enable_model_summary=progress,
            log_every_n_steps=cfg.log_every_n_steps,
            limit_val_batches=1.0 if cfg.val_batches is None else cfg.val_batches,
        )
    except Exception as error:  # MisconfigurationException, ValueError, RuntimeError
        raise ConfigError(
            f"--accelerator {cfg.accelerator} --devices {cfg.devices} --strategy {cfg.strategy}: "
            f"{first_line(error)}"
        ) from None


def check_loss_weights(config: RunConfig) -> None:
    """A classifier loss network without its folder is a mistake in the options: one line before
    any data is read (the presets themselves leave the folder to the user)."""
    loss = config.loss
    if loss.uses_loss_network and loss.loss_network == "classifier" and not loss.loss_weights:
        raise ConfigError(
            "the classifier loss network needs --loss-weights DIR: train one first with "
            "`dfcvae train-classifier --dataset NAME --out DIR`"
        )


def train(
    config: RunConfig,
    out: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Train ``config`` into the run directory ``out`` and return it.

    resume: continue from the newest readable checkpoint in ``out/checkpoints`` (same step,
    optimizer and data order, mid-epoch included).
    """
    config.validate()
    check_loss_weights(config)
    check_hardware(config.train.precision, config.train.accelerator, config.train.devices)
    config = config.with_absolute_paths()  # config.json then works from any directory
    check_devices(config.train.devices, config.train.strategy)
    out = Path(out)
    rank_zero = is_launcher_rank_zero()
    with removed_on_failure(out) if rank_zero else contextlib.nullcontext():
        if rank_zero:
            if resume:
                check_same_run(out, config)
            prepare_run_dir(out, resume, force)
        L.seed_everything(config.train.seed, workers=True, verbose=False)
        datamodule = config.data.datamodule(
            image_size=config.model.image_size,
            channels=config.model.channels,
            batch_size=config.train.batch_size,
            seed=config.train.seed,
            progress=progress,
        )
        if rank_zero:
            # The data first: a missing data root fails before any loss-network weights load.
            datamodule.prepare_data()
            datamodule.setup("fit")  # builds the caches and checks --batch-size against them
        module = DFCVAEModule(config)
        trainer = build_trainer(config, out, progress)
        checkpoint = resume_checkpoint(out) if resume else None
        if rank_zero:
            if checkpoint is not None:
                announce_resume(out, checkpoint, config)
            check_room_for_checkpoints(out, module.vae)
            write_json(out / CONFIG_FILE, config_document(config))
        fit(trainer, module, datamodule, out, checkpoint)
    return out


def fit(
    trainer: L.Trainer,
    module: DFCVAEModule,
    datamodule: L.LightningDataModule,
    out: Path,
    checkpoint: Path | None,
) -> None:
    """``trainer.fit``, from ``checkpoint`` when resuming (its CSV log continued), then save the
    VAE; a disk or folder failing while training, or options Lightning refuses, is one line."""
    resume = checkpoint is not None
    earlier_logs = keep_earlier_logs(out) if resume and trainer.is_global_zero else None
    try:
        with interruptible(trainer), warnings.catch_warnings():
            for message in QUIET_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            if resume:  # the run directory is reused on purpose: checkpoints kept, logs merged
                warnings.filterwarnings("ignore", message=r".*directory .* exists and is not empty")
            trainer.fit(module, datamodule=datamodule, ckpt_path=checkpoint, weights_only=True)
        if trainer.is_global_zero:
            save_model(out, module.vae, module.run_config)
    except OSError as error:  # the disk filled up, or the folder went away, while training
        where = error.filename or out
        raise RunDirError(
            f"{where}: {error.strerror or error} while training; the checkpoints written before "
            "are intact: fix it and rerun with --resume"
        ) from None
    except MisconfigurationException as error:  # e.g. --epochs below the resumed epoch
        raise ConfigError(first_line(error)) from None
    finally:
        if earlier_logs is not None:
            merge_logs(out, earlier_logs)
