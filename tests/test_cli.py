"""The `dfcvae` command: train, train-classifier and weights, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import dfcvae
from dfcvae.cli import main
from tests.conftest import needs_fashion_mnist


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_weights_lists_each_loss_network(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run_cli(capsys, "weights")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert names == ["vgg19", "mobilenet_v2", "classifier"]


@pytest.mark.parametrize(
    "argv,option",
    [
        (["--image-size", "48"], "--image-size 48"),
        (["--latent-dim", "0"], "--latent-dim 0"),
        (["--lr", "-1"], "--lr -1"),
        (["--preset", "vae-9"], "--preset 'vae-9'"),
        (["--layers", "relu9_9"], "relu9_9"),
        (["--dataset", "imagenet"], "--dataset 'imagenet'"),
    ],
)
def test_bad_train_options_get_one_line(capsys, tmp_path: Path, argv, option) -> None:
    code, _, err = run_cli(capsys, "train", "--out", str(tmp_path / "run"), *argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and option in err
    assert not (tmp_path / "run" / "model.safetensors").exists()


@needs_fashion_mnist
def test_classifier_trains_and_serves_as_loss_network(capsys, tmp_path: Path, cache_dir) -> None:
    classifier = tmp_path / "classifier"
    code, out, err = run_cli(
        capsys, "train-classifier", "--out", str(classifier), "--limit", "2048",
        "--cache-dir", str(cache_dir), "--epochs", "2", "--batch-size", "64", "--quiet",
        "--precision", "32-true",
    )  # fmt: skip
    assert code == 0, err
    metrics = json.loads((classifier / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.65  # ten classes: chance is 0.1
    assert 0.05 < metrics["test_majority_baseline"] < 0.2  # Fashion-MNIST is nearly balanced
    accuracy, baseline = (100 * metrics[k] for k in ("test_accuracy", "test_majority_baseline"))
    assert f"test accuracy {accuracy:.1f}% (majority baseline {baseline:.1f}%)" in out
    run = tmp_path / "run"
    code, _, err = run_cli(
        capsys, "train", "--preset", "vae-classifier", "--loss-weights", str(classifier),
        "--dataset", "fashion-mnist", "--image-size", "32", "--channels", "1", "--limit", "512",
        "--cache-dir", str(cache_dir), "--max-steps", "3", "--batch-size", "32", "--quiet",
        "--out", str(run), "--val-batches", "0", "--precision", "32-true",
    )  # fmt: skip
    assert code == 0, err
    model, config = dfcvae.load_run(run)
    assert config.loss.loss_network == "classifier"
    assert model(torch.rand(2, 1, 32, 32)).recon.shape == (2, 1, 32, 32)


def test_classifier_loss_network_without_weights_is_one_line(capsys, tmp_path: Path) -> None:
    code, _, err = run_cli(
        capsys, "train", "--preset", "vae-classifier", "--out", str(tmp_path / "r"),
        "--image-size", "32", "--channels", "1",
    )  # fmt: skip
    assert code == 2 and "train-classifier" in err and len(err.strip().splitlines()) == 1


def test_a_missing_data_root_fails_before_loss_network_weights_load(
    capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dfcvae.loss_networks.base as base

    def no_weights(*args, **kwargs):
        raise AssertionError("loss-network weights were resolved before the data was checked")

    monkeypatch.setattr(base, "resolve_weights", no_weights)
    missing = tmp_path / "nonexistent"
    code, _, err = run_cli(capsys, "train", "--preset", "vae-123", "--dataset", "celeba",
                           "--data-root", str(missing), "--out", str(tmp_path / "run"))  # fmt: skip
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(missing) in lines[0], err
    assert "Traceback" not in err
