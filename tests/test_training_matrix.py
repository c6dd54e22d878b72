"""Training options compose: every precision this machine computes, with and without
``--gradient-clip``, trains two steps of every loss family through ``dfcvae train``; a 2-process
DDP run on gloo clips too; a precision the hardware cannot compute is one line.

Tiny on purpose (32-pixel images, batch 4, 2 steps, a random-weight classifier as the loss
network of the feature and mix families): the whole matrix runs in well under a minute on 2
cores. The data is a folder of generated images, so nothing here needs a data set installed.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from PIL import Image

import dfcvae.training.precision as precision_module
import dfcvae.training.trainer as trainer_module
from dfcvae.cli import main
from dfcvae.training.precision import cpu_supports_bf16, hardware_problem
from tests.test_ddp import RECORDING_CLI

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

FAMILIES = {
    "pixel": ["--preset", "pvae"],
    "feature": ["--preset", "vae-classifier", "--loss-weights", "random"],
    "ssim-colour": ["--preset", "ssim-colour"],
    "mix": ["--preset", "vae-mix", "--loss-network", "classifier", "--layers", "relu1,relu2",
            "--loss-weights", "random"],
}  # fmt: skip
# The precisions the matrix trains in: every one a CPU can run (16-mixed with Lightning's CPU
# loss scaler); the bf16 ones only where the CPU computes bf16 (else they are refused, below).
PRECISIONS = ["32-true", "16-mixed", "bf16-mixed"]
CLIP = 0.5


def runnable(precision: str) -> bool:
    return hardware_problem(precision, False, precision_module.cpu_flags(), None) is None


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 colour images of smooth random blobs, and one shared cache for the whole module."""
    root = tmp_path_factory.mktemp("matrix")
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(48):
        coarse = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((32, 32), Image.BILINEAR).save(images / f"{i:03d}.png")
    return root


def flat(module) -> torch.Tensor:
    return torch.cat([p.detach().float().flatten().cpu() for p in module.vae.parameters()])


class Record(Callback):
    """The weights before the first step and after the last, each step's loss and the norm of
    the gradients the optimizer stepped with (after unscaling and clipping)."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.grad_norms: list[float] = []

    def on_train_start(self, trainer, pl_module) -> None:
        self.before = flat(pl_module)
        self.fused = trainer.optimizers[0].defaults["fused"]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.losses.append(float(loss))
        grads = [p.grad.detach().float() for p in pl_module.vae.parameters()]
        self.grad_norms.append(float(torch.linalg.vector_norm(torch.stack(
            [torch.linalg.vector_norm(g) for g in grads]))))  # fmt: skip

    def on_train_end(self, trainer, pl_module) -> None:
        self.after = flat(pl_module)
        self.steps = trainer.global_step


def train_recorded(monkeypatch, folder: Path, out: Path, *argv: str) -> tuple[int, Record]:
    record = Record()
    build = trainer_module.build_trainer

    def build_trainer(*args, **kwargs):
        trainer = build(*args, **kwargs)
        trainer.callbacks.append(record)
        return trainer

    monkeypatch.setattr(trainer_module, "build_trainer", build_trainer)
    code = main(["train", "--out", str(out), "--dataset", "folder",
                 "--data-root", str(folder / "images"), "--cache-dir", str(folder / "cache"),
                 "--image-size", "32", "--channels", "3", "--latent-dim", "8",
                 "--batch-size", "4", "--max-steps", "2", "--val-batches", "0",
                 "--accelerator", "cpu", "--devices", "1", "--quiet", *argv])  # fmt: skip
    return code, record


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("clip", [None, CLIP])
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.filterwarnings("ignore:loss network .* has RANDOM weights")
def test_every_precision_with_and_without_clipping_trains_every_loss_family(
    monkeypatch, capsys, image_folder: Path, tmp_path: Path, precision, clip, family
) -> None:
    if not runnable(precision):
        pytest.skip(f"this CPU cannot compute {precision} (refusal tested below)")
    clipping = ["--gradient-clip", str(clip)] if clip is not None else []
    code, record = train_recorded(
        monkeypatch, image_folder, tmp_path / "run", "--precision", precision,
        *FAMILIES[family], *clipping,
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert record.steps == 2 and len(record.losses) == 2
    assert all(math.isfinite(loss) for loss in record.losses), record.losses
    assert torch.isfinite(record.after).all()
    assert not torch.equal(record.before, record.after)  # the weights moved
    # Fused Adam wherever the precision plugin need not clip its gradients.
    assert record.fused is (clip is None or precision == "32-true")
    if clip is not None:  # the gradients stepped with were clipped (skipped fp16 steps aside)
        finite = [norm for norm in record.grad_norms if math.isfinite(norm)]
        assert finite and all(norm <= clip * 1.001 for norm in finite), record.grad_norms
    assert (tmp_path / "run" / "model.safetensors").is_file()


@pytest.mark.parametrize("precision", ["bf16-true", "64-true"])
def test_the_other_precisions_train_with_clipping(
    monkeypatch, capsys, image_folder: Path, tmp_path: Path, precision
) -> None:
    if not runnable(precision):
        pytest.skip(f"this CPU cannot compute {precision}")
    code, record = train_recorded(
        monkeypatch, image_folder, tmp_path / "run", "--precision", precision,
        *FAMILIES["pixel"], "--gradient-clip", str(CLIP),
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert all(math.isfinite(loss) for loss in record.losses)
    assert not torch.equal(record.before, record.after)


def test_auto_precision_with_clipping_trains_a_feature_loss(
    monkeypatch, capsys, image_folder: Path, tmp_path: Path
) -> None:
    """The reported failure: --precision auto (bf16-mixed on an avx512_bf16 CPU) with
    --gradient-clip ended in Lightning's 'does not allow for gradient clipping' traceback."""
    code, record = train_recorded(
        monkeypatch, image_folder, tmp_path / "run", "--gradient-clip", "1.0",
        *FAMILIES["feature"],
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert not torch.equal(record.before, record.after)


@pytest.mark.parametrize("precision", ["bf16-mixed", "bf16-true"])
def test_bf16_on_a_cpu_without_bf16_is_refused_in_one_line(
    monkeypatch, capsys, image_folder: Path, tmp_path: Path, precision
) -> None:
    """An AVX2-only CPU (AMD Zen 3): bf16 would be emulated 15-20x slower; refused, nothing
    written. --precision auto on the same CPU trains in 32-true."""
    monkeypatch.setattr(precision_module, "cpu_flags", lambda: {"fpu", "sse2", "avx2", "fma"})
    run = tmp_path / "run"
    code, _ = train_recorded(
        monkeypatch, image_folder, run, "--precision", precision, "--preset", "vae-123"
    )  # the VGG19 weights are not needed to refuse it
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"dfcvae train: error: --precision {precision}: this CPU has no bf16")
    assert "--precision 32-true" in err[0]
    assert not (run / "config.json").exists()
    code, record = train_recorded(
        monkeypatch, image_folder, run, "--gradient-clip", "1.0", *FAMILIES["pixel"]
    )
    assert code == 0 and record.fused is True  # auto -> 32-true: fused Adam clips fine


def test_hardware_problems_name_the_reason() -> None:
    assert hardware_problem("32-true", False, {"avx2"}, None) is None
    assert hardware_problem("16-mixed", False, {"avx2"}, None) is None
    assert hardware_problem("bf16-mixed", False, {"avx512_bf16"}, None) is None
    assert hardware_problem("bf16-mixed", False, set(), None) is None  # flags unknown: allowed
    assert "avx512_bf16" in hardware_problem("bf16-mixed", False, {"avx2"}, None)
    assert "compute capability 7.5" in hardware_problem("bf16-mixed", True, set(), (7, 5))
    assert hardware_problem("bf16-mixed", True, set(), (8, 0)) is None
    assert hardware_problem("16-mixed", True, set(), (7, 5)) is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine without a GPU")
def test_a_gpu_asked_for_on_a_machine_without_one_is_one_line(capsys, tmp_path: Path) -> None:
    code = main(["train", "--out", str(tmp_path / "run"), "--accelerator", "gpu", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "--accelerator gpu --devices auto: torch sees no CUDA GPU" in err[0]


def test_two_ddp_processes_on_gloo_train_with_clipping(image_folder: Path, tmp_path: Path) -> None:
    """Two ranks, mixed precision (bf16 where the CPU computes it, else fp16 with its scaler) and
    --gradient-clip: both take 2 steps and end with the same weights."""
    precision = "bf16-mixed" if cpu_supports_bf16() else "16-mixed"
    script = tmp_path / "recording_cli.py"
    script.write_text(RECORDING_CLI)
    records = tmp_path / "records"
    records.mkdir()
    command = [
        sys.executable, str(script), "train", "--preset", "pvae", "--out", str(tmp_path / "run"),
        "--dataset", "folder", "--data-root", str(image_folder / "images"),
        "--cache-dir", str(image_folder / "cache"), "--image-size", "32", "--latent-dim", "8",
        "--batch-size", "4", "--max-steps", "2", "--val-batches", "0", "--precision", precision,
        "--gradient-clip", str(CLIP), "--accelerator", "cpu", "--devices", "2",
        "--strategy", "ddp", "--quiet",
    ]  # fmt: skip
    env = {**os.environ, "DFCVAE_OFFLINE": "1", "DDP_RECORD_DIR": str(records),
           "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((records / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 and r["steps"] == 2 for r in ranks)
    assert ranks[0]["weights"] == ranks[1]["weights"]
