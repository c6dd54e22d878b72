"""The CelebA recipes end to end: both download layouts train through `dfcvae train`, and the
original code's 128-pixel config builds the original code's network."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import dfcvae
from dfcvae import DFCVAE
from dfcvae.cli import main
from dfcvae.config import read_config_file
from dfcvae.configs import config_path
from dfcvae.vae.presets import config_from_preset
from tests.data_fixtures import CELEBA_LAYOUTS, make_celeba
from tests.model_layers import ORIGINAL_128, layer_list

ORIGINAL_CONFIG = config_path("celeba-original-128")


def _train(capsys: pytest.CaptureFixture, *argv: str) -> None:
    code = main(["train", "--quiet", "--precision", "32-true", "--accelerator", "cpu", *argv])
    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize("layout", CELEBA_LAYOUTS)
def test_both_layouts_train_through_the_cli(capsys, tmp_path: Path, layout: str) -> None:
    make_celeba(tmp_path / "data", layout)
    run = tmp_path / "run"
    _train(
        capsys, "--preset", "pvae", "--dataset", "celeba", "--data-root", str(tmp_path / "data"),
        "--image-size", "32", "--latent-dim", "8", "--batch-size", "4", "--max-steps", "2",
        "--cache-dir", str(tmp_path / "cache"), "--out", str(run),
    )  # fmt: skip
    model, config = dfcvae.load_run(run)
    assert (config.data.dataset, config.model.image_size) == ("celeba", 32)
    recon = model(torch.rand(2, 3, 32, 32)).recon
    assert recon.shape == (2, 3, 32, 32) and torch.isfinite(recon).all()


def test_original_128_config_is_the_original_codes_run() -> None:
    values = read_config_file(ORIGINAL_CONFIG)
    config = config_from_preset(values.pop("preset"), values)
    config.data.root = "/data/celeba"
    config.validate()
    assert config.preset == "vae-123"
    assert (config.model.image_size, config.model.latent_dim) == (128, 100)
    assert (config.data.dataset, config.data.crop) == ("celeba", "original")
    assert (config.train.batch_size, config.train.lr, config.train.beta1) == (40, 5e-4, 0.5)
    assert config.loss.loss_network == "vgg19"
    assert config.loss.layers == ["relu1_1", "relu2_1", "relu3_1"]
    assert config.loss.recon_weight == 0.5  # the original's content_weight
    # nothing in the file touches the loss: the balance is the vae-123 preset's
    assert "loss" not in values and config.loss == config_from_preset("vae-123").loss
    assert layer_list(DFCVAE(config.model)) == ORIGINAL_128


def test_original_128_config_trains_through_the_cli(capsys, tmp_path: Path) -> None:
    make_celeba(tmp_path / "data", "kaggle")
    run = tmp_path / "run"
    _train(
        capsys, "--config", str(ORIGINAL_CONFIG), "--data-root", str(tmp_path / "data"),
        "--loss-weights", "random", "--batch-size", "2", "--max-steps", "1", "--val-batches", "1",
        "--num-workers", "0", "--cache-dir", str(tmp_path / "cache"), "--out", str(run),
    )  # fmt: skip
    model, config = dfcvae.load_run(run)
    assert config.model.architecture == "original-128" and config.data.crop == "original"
    assert layer_list(model) == ORIGINAL_128


def test_original_architecture_at_another_size_is_one_line(capsys, tmp_path: Path) -> None:
    code = main(
        ["train", "--out", str(tmp_path / "run"), "--architecture", "original-128",
         "--image-size", "64", "--dataset", "fashion-mnist"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--image-size 64" in err and "original-128" in err
    assert not (tmp_path / "run" / "model.safetensors").exists()
