"""On a CUDA GPU: training steps end to end in bf16-mixed and 16-mixed, and fp32 loss terms
under CUDA autocast. Marked ``gpu``; skipped where there is no CUDA GPU. ``benchmarks/gpu.sh``
runs them; ``benchmarks/gpu.sh --cpu-smoke`` runs them on CPU (``DFCVAE_GPU_TESTS_ON_CPU=1``)
to prove the stage, where Lightning's 16-mixed (which it turns into bf16 on CPU) is skipped.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from dfcvae import config_from_preset
from dfcvae.training.module import DFCVAEModule
from dfcvae.training.precision import choose_precision, cpu_flags, resolve_precision
from dfcvae.training.trainer import build_trainer
from dfcvae.vae.losses import ssim_colour_loss

ON_CPU = os.environ.get("DFCVAE_GPU_TESTS_ON_CPU") == "1"
DEVICE = "cpu" if ON_CPU else "cuda"
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not ON_CPU and not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
STEPS = 30


def fit(precision: str, tmp_path: Path, preset: str = "vae-123") -> tuple[DFCVAEModule, list]:
    """``STEPS`` steps of ``preset`` (32x32 RGB, random VGG19 weights) on one repeated batch of
    smooth images, with the Trainer ``dfcvae train`` builds; returns the module and losses."""
    config = config_from_preset(
        preset,
        {
            "model": {"image_size": 32, "channels": 3, "latent_dim": 32, "base_width": 16},
            "loss": {"loss_weights": "random"} if preset.startswith("vae") else {},
            "train": {"batch_size": 16, "lr": 1e-3, "precision": precision, "max_steps": STEPS,
                      "epochs": 1, "accelerator": "gpu" if DEVICE == "cuda" else "cpu"},
        },
    ).validate()  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(16, 3, 4, 4, generator=generator)
    images = F.interpolate(coarse, size=(32, 32), mode="bicubic").clamp(0, 1)
    loader = DataLoader(TensorDataset(images.repeat(STEPS, 1, 1, 1), torch.zeros(16 * STEPS)),
                        batch_size=16)  # fmt: skip
    losses: list[float] = []

    class Record(DFCVAEModule):
        def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
            super().on_train_batch_end(outputs, batch, batch_idx)
            losses.append(float(outputs["loss"]))

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = build_trainer(config, tmp_path, progress=False)
        module = Record(config.to_dict())
        trainer.fit(module, train_dataloaders=loader)
    return module, losses


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_training_steps_end_to_end(precision: str, tmp_path: Path) -> None:
    if ON_CPU and precision == "16-mixed":
        pytest.skip("Lightning runs 16-mixed as bf16 on CPU; test_precision_fp16.py covers it")
    module, losses = fit(precision, tmp_path)
    assert module.trainer.precision == precision
    assert module.trainer.global_step == STEPS
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-5:]) < sum(losses[:5]), losses  # it learns the batch
    weights = torch.cat([p.detach().flatten() for p in module.vae.parameters()])
    assert torch.isfinite(weights).all()
    skipped = int(module.guard.skipped_total)
    if precision == "16-mixed":
        scaler = module.trainer.precision_plugin.scaler
        assert scaler is not None and skipped < STEPS // 2, skipped
        assert module.trainer.optimizers[0].defaults["fused"]  # no clipping: fused applies
    else:
        assert skipped == 0


def test_auto_follows_the_gpu_capability() -> None:
    if ON_CPU:
        assert resolve_precision("auto", "cpu") == choose_precision(cpu_flags(), None)
        return
    expected = choose_precision(cpu_flags(), torch.cuda.get_device_capability())
    assert resolve_precision("auto", "gpu") == expected


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_ssim_colour_term_is_fp32_under_device_autocast(dtype: torch.dtype) -> None:
    if ON_CPU and dtype == torch.float16:
        pytest.skip("fp16 autocast is a GPU path")
    generator = torch.Generator().manual_seed(3)
    x = F.interpolate(torch.rand(4, 3, 4, 4, generator=generator), size=(32, 32), mode="bicubic")
    x = x.clamp(0, 1).to(DEVICE)
    recon = (x + 0.1 * torch.randn(x.shape, generator=generator).to(DEVICE)).clamp(0, 1)
    exact = ssim_colour_loss(recon, x)
    with torch.autocast(DEVICE, dtype=dtype):
        mixed = ssim_colour_loss(recon, x)
    assert mixed.dtype == torch.float32
    assert torch.allclose(mixed, exact, rtol=1e-5, atol=0), (mixed, exact)
