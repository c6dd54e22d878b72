"""KL collapse is measured right and never silent: active units, KL per image, the warning."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from dfcvae.training.collapse_monitor import CollapseMonitor, KLCollapseWarning
from dfcvae.vae.collapse import (
    active_units,
    kl_per_image,
    latent_usage,
    reconstruction_spread,
)
from tests.conftest import FASHION_MNIST, tiny_config


def test_active_units_counts_dimensions_whose_mean_varies_across_images() -> None:
    rng = np.random.default_rng(0)
    mu = rng.normal(0, 0.02, size=(500, 8))  # variance 4e-4: inactive
    mu[:, 2] = rng.normal(0, 1.0, size=500)  # variance 1: active
    mu[:, 5] = rng.normal(3, 0.2, size=500)  # variance 0.04: active, whatever its mean
    mu[:, 6] = 7.0  # constant: inactive
    expected = int((np.var(mu, axis=0, ddof=1) > 0.01).sum())
    assert expected == 2
    assert active_units(torch.tensor(mu)) == expected


def test_kl_per_image_matches_the_closed_form() -> None:
    mu = torch.tensor([[0.0, 0.0], [1.0, -2.0]])
    logvar = torch.tensor([[0.0, 0.0], [np.log(4.0), 0.0]])
    # KL(N(m, s^2) || N(0, 1)) = (s^2 + m^2 - 1 - ln s^2) / 2, summed over dimensions.
    second = (4 + 1 - 1 - np.log(4.0)) / 2 + (1 + 4 - 1 - 0) / 2
    assert kl_per_image(mu, logvar).tolist() == pytest.approx([0.0, second])


def test_spread_is_one_for_perfect_and_zero_for_constant_reconstructions() -> None:
    x = torch.rand(16, 1, 8, 8)
    assert reconstruction_spread(x, x) == pytest.approx(1.0)
    mean_image = x.mean(0, keepdim=True).expand_as(x)
    assert reconstruction_spread(mean_image, x) == pytest.approx(0.0, abs=1e-7)
    halfway = 0.5 * x + 0.5 * mean_image  # variance across images scales by 1/4
    assert reconstruction_spread(halfway, x) == pytest.approx(0.25, rel=1e-5)


def test_usage_calls_a_constant_decoder_collapsed_and_a_working_one_not() -> None:
    x = torch.rand(32, 1, 8, 8)
    mu, logvar = torch.randn(32, 4), torch.zeros(32, 4)
    assert not latent_usage(mu, logvar, x, x).collapsed
    constant = x.mean(0, keepdim=True).expand_as(x)
    assert latent_usage(mu, logvar, constant, x).collapsed  # the decoder ignores its code
    assert latent_usage(torch.zeros(32, 4), logvar, x, x).collapsed  # no active unit


def test_monitor_waits_for_warm_up_and_grace() -> None:
    monitor = CollapseMonitor(every=50, grace=100)
    assert not monitor.due(50, warmup=0)
    assert monitor.due(100, warmup=0)
    assert not monitor.due(120, warmup=0)
    assert not monitor.due(150, warmup=100)
    assert monitor.due(200, warmup=100)


def collapse_warnings(preset: str, out: Path, cache: Path, **loss) -> tuple[list[str], list]:
    from dfcvae.training.trainer import train

    config = tiny_config(preset, cache, epochs=10)  # 160 steps
    for key, value in loss.items():
        setattr(config.loss, key, value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(config, out, progress=False)
    rows = list(csv.DictReader((out / "logs" / "metrics.csv").open()))
    logged = [float(r["train/active_units"]) for r in rows if r.get("train/active_units")]
    return [str(w.message) for w in caught if w.category is KLCollapseWarning], logged


@pytest.mark.slow
@pytest.mark.skipif(not FASHION_MNIST.is_dir(), reason="needs dataset-fashion-mnist")
def test_training_warns_once_for_an_absurd_kl_weight(tmp_path: Path, cache_dir: Path) -> None:
    messages, logged = collapse_warnings("pvae", tmp_path / "absurd", cache_dir, kl_weight=1e3)
    assert len(messages) == 1
    assert messages[0].startswith("step 100: the KL term is collapsing")
    assert "--kl-weight (now 1000)" in messages[0] and "--kl-warmup-steps" in messages[0]
    assert logged and max(logged) == 0


@pytest.mark.slow
@pytest.mark.skipif(not FASHION_MNIST.is_dir(), reason="needs dataset-fashion-mnist")
def test_training_at_the_presets_defaults_is_silent(tmp_path: Path, cache_dir: Path) -> None:
    messages, logged = collapse_warnings("vae-mobilenet", tmp_path / "defaults", cache_dir)
    assert messages == []
    assert logged and min(logged) >= 1
