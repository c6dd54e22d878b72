"""A tiny training run through the CLI, as a user sees it: --max-steps alone bounds it, stderr
holds none of Lightning's own noise, TensorBoard gets reconstructions, samples and the
projector's files (at --precision auto: bf16-mixed on a CPU with bf16 instructions, 32-true on
one without), and --resume
says where it goes on or why it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dfcvae.cli import main
from tests.conftest import needs_fashion_mnist

pytestmark = [needs_fashion_mnist, pytest.mark.slow]

# 64 images in batches of 32: 2 steps an epoch, so the old default of 5 epochs stopped at 10.
STEPS, EVERY, VALID = 12, 4, 64
LIGHTNING_NOISE = ("model summary", "log_every_n_steps", "logging interval", "v_num")


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path):
    out = tmp_path_factory.mktemp("messages") / "run"
    argv = [
        "train", "--preset", "pvae", "--dataset", "fashion-mnist", "--image-size", "32",
        "--latent-dim", "8", "--limit", str(VALID), "--batch-size", "32", "--max-steps",
        str(STEPS), "--precision", "auto", "--accelerator", "cpu", "--devices", "1",
        "--tensorboard-images-every", str(EVERY), "--cache-dir", str(cache_dir),
        "--out", str(out),
    ]  # fmt: skip
    return out, argv


def test_a_tiny_train_runs_to_max_steps_with_no_lightning_noise(auto_run, capfd) -> None:
    out, argv = auto_run
    assert main(argv) == 0
    captured = capfd.readouterr()
    for noise in LIGHTNING_NOISE:
        assert noise not in captured.err and noise not in captured.out, noise
    checkpoint = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == STEPS  # not 10: --max-steps alone bounds the run


def test_tensorboard_holds_images_at_every_nth_step_and_the_projector_files(auto_run) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, _ = auto_run
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    expected = list(range(EVERY, STEPS + 1, EVERY))
    for tag in ("reconstructions", "samples"):
        assert [image.step for image in events.Images(tag)] == expected, tag
    assert (out / "tensorboard" / "projector_config.pbtxt").is_file()
    (folder,) = [p for p in (out / "tensorboard").iterdir() if (p / "mu").is_dir()]
    rows = (folder / "mu" / "tensors.tsv").read_text().strip().splitlines()
    assert len(rows) == VALID and len(rows[0].split("\t")) == 8
    labels = (folder / "mu" / "metadata.tsv").read_text().strip().splitlines()
    assert len(labels) == VALID and "Ankle boot" in labels and "Trouser" in labels
    assert (folder / "mu" / "sprite.png").stat().st_size > 0


def test_resume_past_max_steps_says_to_raise_it(auto_run, capsys) -> None:
    out, _ = auto_run
    assert main(["train", "--resume", "--epochs", "10", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "raise --max-steps" in err[0] and f"step {STEPS}" in err[0]


def test_resume_prints_the_step_it_continues_from(auto_run, capfd) -> None:
    out, _ = auto_run
    argv = ["train", "--resume", "--max-steps", str(STEPS + 2), "--quiet", "--out", str(out)]
    assert main(argv) == 0
    err = capfd.readouterr().err
    assert f"resuming {out} from step {STEPS} (6 epoch(s) done)" in err, err
    checkpoint = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == STEPS + 2
