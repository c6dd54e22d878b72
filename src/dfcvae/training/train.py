"""``train(config, out)``: build the data, the model and a Lightning Trainer, fit, save.

The run directory holds ``config.json``, ``model.safetensors`` (the final VAE weights),
``checkpoints/`` (per epoch, ``last.ckpt`` and, if asked, every N steps) and ``logs/`` (CSV) plus
``tensorboard/``.

Faults (docs/reliability.md): checkpoints are written to a temporary file in their folder and
renamed into place, and read with ``weights_only=True``; ``--resume`` takes the newest readable
checkpoint, naming any it skips, and continues exactly where it was written, mid-epoch included;
a full disk or an unwritable folder is one line, before training where it can be checked.
"""

from __future__ import annotations

import csv
import ctypes
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from dfcvae.errors import ConfigError, RunDirError
from dfcvae.io import CONFIG_FILE, MODEL_FILE, atomic_write, save_model, write_json
from dfcvae.run_config import RunConfig
from dfcvae.training.collapse_monitor import CollapseMonitor
from dfcvae.training.interrupt import interruptible
from dfcvae.training.module import DFCVAEModule

CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
MIN_FREE_BYTES = 200 * 2**20
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc mallopt parameters


def is_launcher_rank_zero() -> bool:
    """False in every process but global rank 0: the workers that Lightning's DDP launcher
    starts (LOCAL_RANK, NODE_RANK), and the other ranks under torchrun (RANK) or srun
    (SLURM_PROCID), so that only one process claims the run directory."""
    names = ("LOCAL_RANK", "NODE_RANK", "RANK", "SLURM_PROCID")
    return all(os.environ.get(name, "0") == "0" for name in names)


# CPU flags (/proc/cpuinfo) whose instructions compute bf16 products natively, which oneDNN uses
# for bf16 convolutions and matrix multiplies: AMX tiles (Intel Sapphire Rapids and later) and
# AVX512-BF16 dot products (Intel Cooper Lake, AMD Zen 4 and later).
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none: not Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_supports_bf16(flags: set[str] | None = None) -> bool:
    flags = cpu_flags() if flags is None else flags
    return any(flag in flags for flag in CPU_BF16_FLAGS)


def choose_precision(cpu_flags: set[str], cuda_capability: tuple[int, int] | None) -> str:
    """What ``--precision auto`` trains in: bf16 only where the hardware computes it natively
    and it is faster than fp32 (docs/benchmarks.md, "Precision").

    - A CUDA GPU (``cuda_capability`` not None): compute capability 8.0 or more (A100, H100,
      RTX 30xx and later: bf16 tensor cores) -> ``bf16-mixed``; 7.x (V100, T4, RTX 20xx: fp16
      tensor cores, no bf16) -> ``16-mixed`` with its loss scaler; older -> ``32-true``.
    - A CPU with ``amx_bf16`` or ``avx512_bf16`` -> ``bf16-mixed`` (on AMD Zen 4 the VAE-123 step
      is about 1.5x faster than in fp32); any other CPU -> ``32-true``: there torch emulates
      bf16, and a bf16 step is 15-20x slower than fp32 (measured on AMD Zen 3, AVX2).
    """
    if cuda_capability is not None:
        if cuda_capability >= (8, 0):
            return "bf16-mixed"
        return "16-mixed" if cuda_capability >= (7, 0) else "32-true"
    return "bf16-mixed" if cpu_supports_bf16(cpu_flags) else "32-true"


def resolve_precision(precision: str, accelerator: str) -> str:
    """``auto``: ``choose_precision`` for the device the Trainer will use; else ``precision``."""
    if precision != "auto":
        return precision
    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return choose_precision(cpu_flags(), torch.cuda.get_device_capability())
    return choose_precision(cpu_flags(), None)


def check_loss_weights(config: RunConfig) -> None:
    """A classifier loss network without its folder is a mistake in the options: one line before
    any data is read (the presets themselves leave the folder to the user)."""
    loss = config.loss
    if loss.uses_loss_network and loss.loss_network == "classifier" and not loss.loss_weights:
        raise ConfigError(
            "the classifier loss network needs --loss-weights DIR: train one first with "
            "`dfcvae train-classifier --dataset NAME --out DIR`"
        )


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
    for stale in (out / CHECKPOINT_DIR).glob(".*.tmp"):  # from a run killed while saving
        stale.unlink(missing_ok=True)
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


def check_room_for_checkpoints(out: Path, module: DFCVAEModule) -> None:
    """Refuse to start unless the disk holds three checkpoints (weights and two Adam moments
    each) besides the 200 MiB margin: last.ckpt, an epoch's and the temporary file of the next."""
    checkpoint_bytes = 3 * sum(p.numel() * p.element_size() for p in module.vae.parameters())
    need = MIN_FREE_BYTES + 3 * checkpoint_bytes
    free = shutil.disk_usage(out).free
    if free < need:
        raise RunDirError(
            f"--out {out}: only {free // 2**20} MiB free on its disk; checkpoints of this model "
            f"need {need // 2**20} MiB (3 of {checkpoint_bytes // 2**20} MiB and a margin)"
        )


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint of this run, read with ``weights_only=True`` (tensors and plain
    containers only: a pickle that would run code is refused); one line naming the file if it
    is refused, truncated, corrupt or not a training checkpoint."""
    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - UnpicklingError, EOFError, RuntimeError alike
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        if lines and lines[0].startswith("Weights only load failed"):
            detail = next((x for x in lines if x.startswith("Unsupported")), "not plain tensors")
            reason = (
                "corrupt, or pickled objects other than tensors: refused without unpickling "
                f"it (weights_only=True: {detail[:120]})"
            )
        else:
            first = (lines or [type(error).__name__])[0].split(". ")[0]  # torch adds advice
            reason = f"truncated or corrupt ({first[:160]})"
        raise RunDirError(f"{path}: {reason}") from None
    if not isinstance(checkpoint, dict) or not {"state_dict", "loops", "global_step"} <= set(
        checkpoint
    ):
        raise RunDirError(f"{path}: not a training checkpoint (no state_dict, loops, global_step)")
    return checkpoint


def _step_in_name(path: Path) -> int:
    found = re.search(r"step(\d+)", path.stem)
    return int(found.group(1)) if found else -1


def resume_checkpoint(out: Path) -> Path:
    """The checkpoint ``--resume`` continues from: ``last.ckpt`` if it reads, else the newest
    other one that does (by the step in its name). Each unreadable one is named in a warning."""
    folder = out / CHECKPOINT_DIR
    candidates = sorted(
        folder.glob("*.ckpt"),
        key=lambda path: (path.name == LAST_CHECKPOINT, _step_in_name(path)),
        reverse=True,
    )
    if not candidates:
        raise RunDirError(f"--resume: {folder / LAST_CHECKPOINT} is missing")
    refused = []
    for path in candidates:
        try:
            read_checkpoint(path)
        except RunDirError as error:
            refused.append(str(error))
            continue
        for reason in refused:
            warnings.warn(f"{reason}; resuming from {path.name} instead", stacklevel=2)
        return path
    raise RunDirError(f"--resume: no readable checkpoint in {folder}: {'; '.join(refused)}")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written like every other file of a run (``dfcvae.io.atomic_write``: a
    temporary file in the same folder, flushed to disk, renamed over the old one) and read with
    ``read_checkpoint``. Lightning's own writer stages the file in the system temp folder, so
    its final move can be a copy that a kill cuts short."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        try:
            atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))
        except OSError as error:
            raise RunDirError(
                f"{path}: cannot write the checkpoint ({error.strerror or error}); the earlier "
                "checkpoints are intact: make room and rerun with --resume"
            ) from None

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
        return read_checkpoint(path)


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def keep_earlier_logs(out: Path) -> Path | None:
    """Lightning's CSV logger deletes ``metrics.csv`` when it starts; set it aside first (after
    a resume that was itself killed, both files are there: join them)."""
    log = out / "logs" / "metrics.csv"
    earlier = log.with_name("metrics.before-resume.csv")
    if earlier.is_file() and log.is_file():
        _write_rows(earlier, _joined(_read_rows(earlier), _read_rows(log)))
        log.unlink()
    elif log.is_file():
        os.replace(log, earlier)
    return earlier if earlier.is_file() else None


def _joined(earlier: list[dict[str, str]], later: list[dict[str, str]]) -> list[dict[str, str]]:
    """``earlier`` then ``later``, less the earlier rows that the later run logged again (those
    after the checkpoint it resumed from)."""
    steps = [int(float(row["step"])) for row in later if row.get("step")]
    first = min(steps, default=None)
    kept = [row for row in earlier if first is None or int(float(row.get("step") or 0)) < first]
    return kept + later


def _write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    keys = sorted({key for row in rows for key in row})

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def merge_logs(out: Path, earlier: Path) -> None:
    """Put the rows logged before a resume back in front of the new ones."""
    log = out / "logs" / "metrics.csv"
    _write_rows(log, _joined(_read_rows(earlier), _read_rows(log)))
    earlier.unlink()


def _devices(value: str) -> int | str | list[int]:
    if value.isdigit():
        return int(value)
    if "," in value:
        ids = [v.strip() for v in value.split(",") if v.strip()]
        if not all(v.isdigit() for v in ids):
            raise ConfigError(f"--devices {value}: a list of device numbers must be like 0,1")
        return [int(v) for v in ids]
    return value


def batch_end_progress(
    epoch: int, batches_done: int, batches_per_epoch: int, total_batches: int
) -> dict[str, Any]:
    """Lightning's loop counters as they stand when batch ``batches_done`` (1-based) of
    ``epoch`` (0-based) has just ended: the one state that Lightning resumes exactly."""
    epochs = {"ready": epoch + 1, "started": epoch + 1, "processed": epoch, "completed": epoch}

    def batches(n: int) -> dict[str, int]:
        return {"ready": n, "started": n, "processed": n, "completed": n - 1}

    return {
        "epoch_progress": {"total": dict(epochs), "current": dict(epochs)},
        "epoch_loop.batch_progress": {
            "total": batches(total_batches),
            "current": batches(batches_done),
            "is_last_batch": batches_done >= batches_per_epoch,
        },
    }


class ExactResume(Callback):
    """Makes a resumed run continue exactly where its checkpoint was written.

    Lightning 2.6 restores its epoch counters one off after a checkpoint written in
    ``on_train_epoch_end`` when ``max_steps`` is set, after one written as ``max_steps`` stops a
    run mid-epoch (it reads as a finished epoch), and after one written at the last batch of an
    epoch. The train loader's state in the checkpoint (epoch, samples done, batches per epoch;
    see ``dfcvae.data.datamodule.ResumableLoader``) says where the run was, so the loop counters
    are rewritten, before Lightning restores them, into the "batch k of epoch E has just ended"
    form that it resumes exactly.
    """

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        fit_loop = checkpoint.get("loops", {}).get("fit_loop", {})
        loaders = fit_loop.get("state_dict", {}).get("combined_loader") or []
        if len(loaders) != 1 or "batches_per_epoch" not in loaders[0]:
            return  # not written by this version: leave it to Lightning
        loader = loaders[0]
        per_epoch = int(loader["batches_per_epoch"])
        epoch, done = int(loader["epoch"]), int(loader["batches_done"])
        if done == 0 and epoch > 0:
            epoch, done = epoch - 1, per_epoch
        total = int(fit_loop["epoch_loop.batch_progress"]["total"]["processed"])
        if done > 0:
            fit_loop.update(batch_end_progress(epoch, done, per_epoch, total))


def keep_freed_memory() -> None:
    """Make glibc keep freed memory for reuse instead of handing large blocks back to the OS.

    By default every tensor over 32 MiB (a VGG activation at batch 64 is 64 MiB) is a fresh
    mmap, whose pages the kernel faults in and zeroes on first touch, every step: about a tenth
    of a CPU step's time (docs/benchmarks.md). No effect where libc is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_MAX, 0)
        libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
    except (OSError, AttributeError):
        pass


def build_trainer(config: RunConfig, out: Path, progress: bool = True) -> L.Trainer:
    cfg = config.train
    if cfg.accelerator == "cpu" or not torch.cuda.is_available():
        keep_freed_memory()
    callbacks = [
        ModelCheckpoint(
            dirpath=out / CHECKPOINT_DIR,
            filename="epoch{epoch:03d}-step{step:07d}",
            auto_insert_metric_name=False,
            save_top_k=-1,
            every_n_epochs=1,
            save_last=True,
            save_on_train_epoch_end=True,
            enable_version_counter=False,
        ),
        ExactResume(),
        CollapseMonitor(),
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
    devices = _devices(cfg.devices)
    try:
        return L.Trainer(
            default_root_dir=out,
            max_epochs=cfg.epochs,
            max_steps=cfg.max_steps,
            accelerator=cfg.accelerator,
            devices=devices,
            strategy=cfg.strategy,
            num_nodes=cfg.num_nodes,
            precision=resolve_precision(cfg.precision, cfg.accelerator),
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
    check_loss_weights(config)
    out = Path(out)
    if is_launcher_rank_zero():
        prepare_run_dir(out, resume, force)
    L.seed_everything(config.train.seed, workers=True, verbose=False)
    datamodule = config.data.datamodule(
        image_size=config.model.image_size,
        channels=config.model.channels,
        batch_size=config.train.batch_size,
        seed=config.train.seed,
        progress=progress,
    )
    if is_launcher_rank_zero():
        # The data first: a missing data root fails before any loss-network weights load.
        datamodule.prepare_data()
        datamodule.setup("fit")  # builds the caches and checks --batch-size against them
    module = DFCVAEModule(config.to_dict())
    trainer = build_trainer(config, out, progress)
    checkpoint = resume_checkpoint(out) if resume else None
    if is_launcher_rank_zero():
        # Everything else that can be checked before training, before the run directory is
        # claimed: a refused run leaves nothing that would need --force.
        check_room_for_checkpoints(out, module)
        write_json(out / CONFIG_FILE, config.to_dict())
    earlier_logs = keep_earlier_logs(out) if resume and trainer.is_global_zero else None
    try:
        with interruptible(trainer), warnings.catch_warnings():
            if resume:  # the run directory is reused on purpose: checkpoints kept, logs merged
                warnings.filterwarnings("ignore", message=r".*directory .* exists and is not empty")
            trainer.fit(module, datamodule=datamodule, ckpt_path=checkpoint, weights_only=True)
        if trainer.is_global_zero:
            save_model(out, module.vae, config)
    except OSError as error:  # the disk filled up, or the folder went away, while training
        where = error.filename or out
        raise RunDirError(
            f"{where}: {error.strerror or error} while training; the checkpoints written before "
            "are intact: fix it and rerun with --resume"
        ) from None
    except MisconfigurationException as error:  # e.g. --epochs below the resumed epoch
        raise ConfigError(str(error).strip().splitlines()[0]) from None
    finally:
        if earlier_logs is not None:
            merge_logs(out, earlier_logs)
    return out
