"""``train(config, out)``: build the data, the model and a Lightning Trainer, fit, save.

The run directory holds ``config.json``, ``model.safetensors`` (the final VAE weights),
``checkpoints/`` (per epoch, ``last.ckpt`` and, if asked, every N steps) and ``logs/`` (CSV) plus
``tensorboard/``.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from dfcvae.config import RunConfig
from dfcvae.data import DFCVAEDataModule
from dfcvae.errors import ConfigError, RunDirError
from dfcvae.io import CONFIG_FILE, MODEL_FILE, atomic_write, save_model, write_json
from dfcvae.training.module import DFCVAEModule

CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
MIN_FREE_BYTES = 200 * 2**20


def is_launcher_rank_zero() -> bool:
    """False inside the worker processes that Lightning's DDP launcher starts."""
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


def cpu_supports_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(precision: str, accelerator: str) -> str:
    """``auto``: bf16 mixed precision where the hardware computes bf16 natively, else fp32."""
    if precision != "auto":
        return precision
    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_supports_bf16() else "32-true"


def prepare_run_dir(out: Path, resume: bool, force: bool) -> None:
    """Refuse to clobber a run, and check the folder is writable with room to spare."""
    existing = [name for name in (CONFIG_FILE, MODEL_FILE, CHECKPOINT_DIR) if (out / name).exists()]
    if existing and not resume:
        if not force:
            raise RunDirError(
                f"{out} already holds a run ({', '.join(existing)}): pass --resume to continue it "
                "or --force to start over"
            )
        for name in (MODEL_FILE, CHECKPOINT_DIR, "logs", "tensorboard"):
            path = out / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise RunDirError(f"--out {out}: not writable ({error.strerror})") from None
    free = shutil.disk_usage(out).free
    if free < MIN_FREE_BYTES:
        raise RunDirError(f"--out {out}: only {free // 2**20} MiB free on its disk; need 200 MiB")


def last_checkpoint(out: Path) -> Path | None:
    path = out / CHECKPOINT_DIR / LAST_CHECKPOINT
    return path if path.is_file() else None


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def keep_earlier_logs(out: Path) -> Path | None:
    """Lightning's CSV logger deletes ``metrics.csv`` when it starts; set it aside first."""
    log = out / "logs" / "metrics.csv"
    if not log.is_file():
        return None
    earlier = log.with_name("metrics.before-resume.csv")
    os.replace(log, earlier)
    return earlier


def merge_logs(out: Path, earlier: Path) -> None:
    """Put the rows logged before a resume back in front of the new ones."""
    log = out / "logs" / "metrics.csv"
    rows = _read_rows(earlier) + _read_rows(log)
    keys = sorted({key for row in rows for key in row})

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(log, write)
    earlier.unlink()


def _devices(value: str) -> int | str | list[int]:
    if value.isdigit():
        return int(value)
    if "," in value:
        return [int(v) for v in value.split(",") if v.strip()]
    return value


def build_trainer(config: RunConfig, out: Path, progress: bool = True) -> L.Trainer:
    cfg = config.train
    callbacks = [
        ModelCheckpoint(
            dirpath=out / CHECKPOINT_DIR,
            filename="epoch{epoch:03d}-step{step:07d}",
            auto_insert_metric_name=False,
            save_top_k=-1,
            every_n_epochs=1,
            save_last=True,
            save_on_train_epoch_end=True,
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
            )
        )
    try:
        return L.Trainer(
            default_root_dir=out,
            max_epochs=cfg.epochs,
            max_steps=cfg.max_steps,
            accelerator=cfg.accelerator,
            devices=_devices(cfg.devices),
            strategy=cfg.strategy,
            num_nodes=cfg.num_nodes,
            precision=resolve_precision(cfg.precision, cfg.accelerator),
            gradient_clip_val=cfg.gradient_clip,
            deterministic=cfg.deterministic,
            callbacks=callbacks,
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
        message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise ConfigError(
            f"--accelerator {cfg.accelerator} --devices {cfg.devices} --strategy {cfg.strategy}: "
            f"{message}"
        ) from None


def train(
    config: RunConfig,
    out: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Train ``config`` into the run directory ``out`` and return it.

    resume: continue from ``out/checkpoints/last.ckpt`` (same step, optimizer and data order).
    """
    config.validate()
    out = Path(out)
    if is_launcher_rank_zero():
        prepare_run_dir(out, resume, force)
        write_json(out / CONFIG_FILE, config.to_dict())
    L.seed_everything(config.train.seed, workers=True, verbose=False)
    data = config.data
    datamodule = DFCVAEDataModule(
        data.dataset,
        root=data.root,
        image_size=config.model.image_size,
        channels=config.model.channels,
        crop=data.crop,
        labels_file=data.labels_file,
        cache_dir=data.cache_dir,
        limit=data.limit,
        batch_size=config.train.batch_size,
        num_workers=data.num_workers,
        seed=config.train.seed,
    )
    module = DFCVAEModule(config.to_dict())
    trainer = build_trainer(config, out, progress)
    checkpoint = last_checkpoint(out) if resume else None
    if resume and checkpoint is None:
        raise RunDirError(f"--resume: {out / CHECKPOINT_DIR / LAST_CHECKPOINT} is missing")
    earlier_logs = keep_earlier_logs(out) if resume and trainer.is_global_zero else None
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=checkpoint, weights_only=True)
    finally:
        if earlier_logs is not None:
            merge_logs(out, earlier_logs)
    if trainer.is_global_zero:
        save_model(out, module.vae, config)
    return out
