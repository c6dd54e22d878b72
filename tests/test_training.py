"""The training engine end to end on real Fashion-MNIST: loss falls, resume, load round-trip."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import dfcvae
from dfcvae.errors import RunDirError
from dfcvae.training.trainer import train
from tests.conftest import needs_fashion_mnist, tiny_config

pytestmark = needs_fashion_mnist


def logged(run: Path, key: str) -> list[float]:
    with open(run / "logs" / "metrics.csv") as f:
        return [float(row[key]) for row in csv.DictReader(f) if row.get(key)]


def test_short_training_run_loss_falls(tiny_run: Path) -> None:
    totals = logged(tiny_run, "train/total_step")
    assert len(totals) >= 10
    assert sum(totals[-3:]) / 3 < 0.8 * sum(totals[:3]) / 3


def test_run_directory_holds_config_weights_checkpoints_logs(tiny_run: Path) -> None:
    assert (tiny_run / "config.json").is_file()
    weights = load_file(str(tiny_run / "model.safetensors"))
    assert weights and all(k.startswith(("encoder.", "decoder.")) for k in weights)
    assert (tiny_run / "checkpoints" / "last.ckpt").is_file()
    assert (tiny_run / "logs" / "metrics.csv").is_file()
    assert any((tiny_run / "tensorboard").glob("events.out.tfevents.*"))


def test_load_round_trip_gives_identical_outputs(tiny_run: Path) -> None:
    model, config = dfcvae.load_run(tiny_run)
    again = dfcvae.load(tiny_run)
    x = torch.rand(5, 1, 32, 32)
    assert not model.training
    assert torch.equal(model(x).recon, again(x).recon)
    checkpoint = torch.load(tiny_run / "checkpoints" / "last.ckpt", weights_only=True)
    vae_state = {k.removeprefix("vae."): v for k, v in checkpoint["state_dict"].items()}
    for key, value in model.state_dict().items():
        assert torch.equal(value, vae_state[key]), key
    assert config.preset == "pvae" and config.model.latent_dim == 16


def test_checkpoints_hold_no_loss_network(tmp_path: Path, cache_dir: Path) -> None:
    config = tiny_config("vae-mobilenet", cache_dir, max_steps=2, val_batches=0)
    run = train(config, tmp_path / "run", progress=False)
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert all(k.startswith("vae.") for k in checkpoint["state_dict"])
    assert all(
        k.startswith(("encoder.", "decoder.")) for k in load_file(str(run / "model.safetensors"))
    )


def test_resume_continues_at_the_same_step_and_matches_uninterrupted(
    tmp_path: Path, cache_dir: Path, tiny_run: Path
) -> None:
    run = tmp_path / "resumed"
    train(tiny_config("pvae", cache_dir, epochs=1), run, progress=False)
    first = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert first["global_step"] == 16
    train(tiny_config("pvae", cache_dir, epochs=2), run, resume=True, progress=False)
    second = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert second["global_step"] == 32 and second["epoch"] == 1
    steps = [int(float(s)) for s in logged(run, "step")]
    assert min(steps) < 16 and max(steps) >= 30  # the log kept the rows from before the resume
    resumed = load_file(str(run / "model.safetensors"))
    uninterrupted = load_file(str(tiny_run / "model.safetensors"))
    for key in uninterrupted:
        assert torch.equal(resumed[key], uninterrupted[key]), key


def test_existing_run_is_not_overwritten_without_force(tiny_run: Path, cache_dir: Path) -> None:
    with pytest.raises(RunDirError, match="--resume .*--force"):
        train(tiny_config("pvae", cache_dir), tiny_run, progress=False)


def test_resume_without_checkpoint_is_one_line(tmp_path: Path, cache_dir: Path) -> None:
    with pytest.raises(RunDirError, match="last.ckpt is missing"):
        train(tiny_config("pvae", cache_dir), tmp_path / "new", resume=True, progress=False)


def test_ctrl_c_mid_training_is_a_keyboard_interrupt_and_resumable(
    tmp_path: Path, cache_dir: Path, monkeypatch
) -> None:
    """Lightning turns Ctrl-C into sys.exit(1) with SIGINT ignored; train() gives the caller a
    KeyboardInterrupt back, Ctrl-C working again, and checkpoints that --resume continues."""
    import signal

    from dfcvae.training.module import DFCVAEModule

    def press_ctrl_c(self, outputs, batch, batch_idx) -> None:
        if self.global_step == 4:
            raise KeyboardInterrupt

    config = tiny_config("pvae", cache_dir, max_steps=6, val_batches=0,
                         checkpoint_every_n_steps=2)  # fmt: skip
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(DFCVAEModule, "on_train_batch_end", press_ctrl_c, raising=False)
        with pytest.raises(KeyboardInterrupt):
            train(config, run, progress=False)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert not (run / "model.safetensors").exists()
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4
    train(config, run, resume=True, progress=False)
    assert (run / "model.safetensors").is_file()


def test_checkpoints_keep_the_config_as_a_hyperparameter_the_module_is_rebuilt_from(
    tiny_run: Path,
) -> None:
    """The module takes the RunConfig; its checkpoints store ``RunConfig.to_dict()`` as the
    hyperparameter ``config``, and ``load_from_checkpoint`` rebuilds the module from that dict."""
    from dfcvae.training.module import DFCVAEModule
    from dfcvae.training.resume import read_checkpoint

    _, config = dfcvae.load_run(tiny_run)  # a run directory still loads
    checkpoint = read_checkpoint(tiny_run / "checkpoints" / "last.ckpt")
    assert checkpoint["hyper_parameters"] == {"config": config.to_dict()}
    module = DFCVAEModule(config)
    assert module.run_config is config
    assert dict(module.hparams) == {"config": config.to_dict()}
    loaded = DFCVAEModule.load_from_checkpoint(
        tiny_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True
    )
    assert loaded.run_config == config
    for name, value in checkpoint["state_dict"].items():
        assert torch.equal(loaded.state_dict()[name], value), name
