"""A run directory works from anywhere: config.json stores absolute paths, every analysis
command takes --data-root for a run whose data moved, and any Lightning checkpoint of a run
loads for inference without the loss network."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import dfcvae
from dfcvae.cli import build_parser, main
from dfcvae.errors import RunDirError
from dfcvae.files import CONFIG_FILE, MODEL_FILE, read_tensors
from dfcvae.vae.presets import config_from_preset

ANALYSIS_COMMANDS = (
    "reconstruct",
    "sample",
    "interpolate",
    "attribute-vectors",
    "edit",
    "predict-attributes",
    "tsne",
    "attribute-correlation",
)


def write_images(folder: Path, n: int = 60) -> Path:
    """``n`` 32x32 RGB PNGs of two random colours each, seeded."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(n):
        pixels = np.zeros((32, 32, 3), np.uint8)
        pixels[:, :16], pixels[:, 16:] = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        Image.fromarray(pixels).save(folder / f"img{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PVAE trained 2 steps on a folder of images named by a relative --data-root."""
    work = tmp_path_factory.mktemp("work")
    write_images(work / "imgs")
    cwd = os.getcwd()
    os.chdir(work)
    try:
        code = main(
            [
                "train",
                "--preset",
                "pvae",
                "--dataset",
                "folder",
                "--data-root",
                "imgs",
                "--image-size",
                "32",
                "--latent-dim",
                "8",
                "--batch-size",
                "8",
                "--max-steps",
                "2",
                "--accelerator",
                "cpu",
                "--devices",
                "1",
                "--precision",
                "32-true",
                "--cache-dir",
                "cache",
                "--out",
                "run",
                "--quiet",
            ]
        )
    finally:
        os.chdir(cwd)
    assert code == 0
    return work / "run"


def test_a_run_stores_the_absolute_data_root_it_was_given_as_relative(folder_run: Path) -> None:
    data = json.loads((folder_run / CONFIG_FILE).read_text())["data"]
    assert data["root"] == str((folder_run.parent / "imgs").resolve())
    assert data["cache_dir"] == str((folder_run.parent / "cache").resolve())


def test_a_run_trained_with_a_relative_data_root_works_from_another_directory(
    folder_run: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "grid.png"
    assert main(["reconstruct", str(folder_run), "--n", "2", "-o", str(out), "--quiet"]) == 0
    assert out.is_file()


def test_data_root_overrides_a_data_folder_that_moved(
    folder_run: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    moved = tmp_path / "moved-run"
    moved.mkdir()
    for name in (CONFIG_FILE, MODEL_FILE):
        (moved / name).write_bytes((folder_run / name).read_bytes())
    config = json.loads((moved / CONFIG_FILE).read_text())
    config["data"]["root"] = "imgs"  # as runs made before absolute paths stored it
    (moved / CONFIG_FILE).write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "grid.png"
    assert main(["reconstruct", str(moved), "--n", "2", "-o", str(out), "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert "image folder imgs does not exist; check --data-root" in error
    assert len(error.splitlines()) == 1
    data_root = str(folder_run.parent / "imgs")
    args = ["--n", "2", "-o", str(out), "--quiet", "--data-root", data_root]
    assert main(["reconstruct", str(moved), *args]) == 0
    metrics = tmp_path / "metrics.json"
    args = ["--n", "2", "-o", str(metrics), "--quiet", "--no-lpips", "--data-root", data_root]
    assert main(["evaluate", str(moved), *args, "--feature-space", "classifier"]) == 0
    assert json.loads(metrics.read_text())["runs"]
    args = ["--quiet", "--n-eval", "2", "--n-grid", "2", "--n-tsne", "4"]
    args += ["--feature-space", "classifier"]
    lost, found = tmp_path / "lost.html", tmp_path / "found.html"
    assert main(["report", str(moved), *args, "-o", str(lost)]) == 0  # problems in the page
    assert "image folder imgs does not exist; check --data-root" in lost.read_text()
    assert main(["report", str(moved), *args, "-o", str(found), "--data-root", data_root]) == 0
    assert "does not exist" not in found.read_text()


@pytest.mark.parametrize("command", [*ANALYSIS_COMMANDS, "evaluate", "report", "explore"])
def test_every_analysis_command_takes_data_root(command: str) -> None:
    required = ["--attribute", "Smiling"] if command == "edit" else []
    args = build_parser().parse_args([command, "RUN", "--data-root", "DIR", *required])
    assert args.data_root == "DIR"


def test_a_classifier_runs_loss_weights_are_stored_absolute(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = config_from_preset(
        "vae-classifier", {"loss": {"loss_weights": "runs/classifier"}, "data": {"root": "~/d"}}
    )
    resolved = config.with_absolute_paths()
    assert resolved.loss.loss_weights == str(tmp_path.resolve() / "runs" / "classifier")
    assert resolved.data.root == str(Path.home().resolve() / "d")
    timing = config_from_preset("vae-mobilenet", {"loss": {"loss_weights": "random"}})
    assert timing.with_absolute_paths().loss.loss_weights == "random"


def test_load_reads_any_checkpoint_of_a_run(folder_run: Path) -> None:
    final = read_tensors(folder_run / MODEL_FILE)
    for checkpoint in ("checkpoints/last.ckpt", folder_run / "checkpoints" / "last.ckpt"):
        model = dfcvae.load(folder_run, checkpoint=checkpoint)
        assert not model.training
        for key, value in model.state_dict().items():
            assert torch.equal(value, final[key]), key


def test_an_interrupted_run_loads_from_its_checkpoint_without_the_loss_network(
    folder_run: Path, tmp_path: Path
) -> None:
    """No model.safetensors (training never finished), and a config whose loss network is
    VGG19, whose weights are not on this machine: the checkpoint still loads."""
    run = tmp_path / "interrupted"
    (run / "checkpoints").mkdir(parents=True)
    last = (folder_run / "checkpoints" / "last.ckpt").read_bytes()
    (run / "checkpoints" / "last.ckpt").write_bytes(last)
    config = json.loads((folder_run / CONFIG_FILE).read_text())
    config["preset"], config["loss"] = "vae-123", config_from_preset("vae-123").loss.__dict__
    (run / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(RunDirError, match="model.safetensors: missing"):
        dfcvae.load(run)
    model = dfcvae.load(run, checkpoint="last.ckpt")
    x = torch.rand(2, 3, 32, 32)
    assert model(x).recon.shape == x.shape
    out = tmp_path / "grid.png"
    args = ["--checkpoint", "last.ckpt", "--n", "2", "-o", str(out), "--quiet"]
    assert main(["reconstruct", str(run), *args]) == 0


def test_a_missing_or_foreign_checkpoint_is_one_line(folder_run: Path, tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="--checkpoint nope.ckpt: no such file"):
        dfcvae.load(folder_run, checkpoint="nope.ckpt")
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_text("not a checkpoint\n" * 3)
    with pytest.raises(RunDirError) as error:
        dfcvae.load(folder_run, checkpoint=garbage)
    assert "not a readable checkpoint" in str(error.value) and "\n" not in str(error.value)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"encoder.weight": torch.zeros(1)}}, foreign)
    with pytest.raises(RunDirError, match="holds no VAE weights"):
        dfcvae.load(folder_run, checkpoint=foreign)
