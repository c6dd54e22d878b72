"""The presets work at their defaults on real data: vae-mobilenet, given only the data, the size and
the demo's step budget, reconstructs sharper than the PVAE at p < 0.01 with an SSIM no lower."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dfcvae import config_from_preset
from dfcvae.analysis.latents import decode, encode
from dfcvae.analysis.quality import laplacian_variance, paired_t_test, ssim_per_image
from dfcvae.analysis.runs import open_run
from dfcvae.analysis.selection import choose_indices, stack_images
from dfcvae.vae.collapse import active_units
from tests.conftest import needs_fashion_mnist

STEPS = 700  # the demo's budget
N_TEST = 300


def train_at_defaults(preset: str, out: Path, cache: Path) -> Path:
    from dfcvae.training.trainer import train

    config = config_from_preset(
        preset,
        {
            "model": {"image_size": 32, "channels": 1},
            "data": {"dataset": "fashion-mnist", "cache_dir": str(cache)},
            "train": {"epochs": 1000, "max_steps": STEPS, "precision": "32-true",
                      "accelerator": "cpu", "devices": "1", "val_batches": 0},
        },
    )  # fmt: skip
    return train(config, out, progress=False)


@pytest.mark.slow
@needs_fashion_mnist
def test_vae_mobilenet_at_defaults_is_sharper_than_pvae_with_no_lower_ssim(
    tmp_path: Path, cache_dir: Path
) -> None:
    runs = {name: open_run(train_at_defaults(name, tmp_path / name, cache_dir))
            for name in ("pvae", "vae-mobilenet")}  # fmt: skip
    dataset = runs["pvae"].dataset("test", progress=False)
    originals = stack_images(dataset, choose_indices(len(dataset), N_TEST, 0))
    recon, codes = {}, {}
    for name, run in runs.items():
        codes[name] = encode(run.model, originals)
        recon[name] = decode(run.model, codes[name])

    sharpness = {name: laplacian_variance(r) for name, r in recon.items()}
    test = paired_t_test(sharpness["vae-mobilenet"], sharpness["pvae"])
    assert test["mean_difference"] > 0 and test["p"] < 0.01, test
    ssim = {name: ssim_per_image(r, originals).mean().item() for name, r in recon.items()}
    assert ssim["vae-mobilenet"] >= ssim["pvae"], ssim
    assert active_units(codes["vae-mobilenet"]) >= 5  # the code is used, not collapsed
    assert torch.isfinite(recon["vae-mobilenet"]).all()
