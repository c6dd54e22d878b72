"""Runs survive faults: a kill, a crash mid-epoch, corrupt checkpoints, a full disk, an unwritable
folder and a non-finite loss; and the same seed gives the same weights, bit for bit.

All on real Fashion-MNIST (512 images, 16 steps an epoch), a tiny PVAE, on the CPU in
deterministic mode. docs/reliability.md lists each fault and its outcome.
"""

from __future__ import annotations

import csv
import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import dfcvae.training.run_dir as run_dir_module
from dfcvae.cli import main
from dfcvae.data import DFCVAEDataModule
from dfcvae.errors import RunDirError
from dfcvae.training.module import DFCVAEModule
from dfcvae.training.resume import AtomicCheckpointIO, read_checkpoint, resume_checkpoint
from dfcvae.training.trainer import build_trainer, train
from dfcvae.vae.losses import DFCVAELoss
from tests.conftest import needs_fashion_mnist, tiny_config
from tests.data_fixtures import name_in_split

pytestmark = [needs_fashion_mnist, pytest.mark.usefixtures("one_thread")]

STEPS = 24  # an epoch and a half
EVERY = 5  # step checkpoints at 5, 10, 15, 20; epoch checkpoints at 16 and (stopped) 24


def config(cache: Path, **train):
    cfg = tiny_config("pvae", cache, **{"epochs": 10, "max_steps": STEPS, "val_batches": 2,
                                        "checkpoint_every_n_steps": EVERY, **train})  # fmt: skip
    cfg.model.base_width = 8
    return cfg


def cli_args(cache: Path, tmp_path: Path, **flags) -> list[str]:
    """``dfcvae train`` flags for the same run as ``config(cache)``."""
    config_file = tmp_path / "tiny.toml"
    config_file.write_text("[model]\nbase_width = 8\nlatent_dim = 16\n")
    options = {
        "preset": "pvae", "config": config_file, "dataset": "fashion-mnist", "limit": 512,
        "cache-dir": cache, "image-size": 32, "channels": 1, "batch-size": 32,
        "precision": "32-true", "accelerator": "cpu", "devices": 1, "epochs": 10,
        "max-steps": STEPS, "val-batches": 2, "checkpoint-every-n-steps": EVERY,
        "log-every-n-steps": 2, **flags,
    }  # fmt: skip
    args = ["train", "--deterministic", "--quiet"]
    for name, value in options.items():
        args += [f"--{name}", str(value)]
    return args


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


def assert_same_weights(run: Path, reference: Path) -> None:
    mine, theirs = weights(run), weights(reference)
    assert mine.keys() == theirs.keys()
    for key in theirs:
        assert torch.equal(mine[key], theirs[key]), key


def step_of(checkpoint: Path) -> int:
    return read_checkpoint(checkpoint)["global_step"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """An uninterrupted run of STEPS steps."""
    return train(config(cache_dir), tmp_path_factory.mktemp("ref") / "run", progress=False)


class Crash(Exception):
    pass


def crash_at(monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    """Make the training step at ``global_step == step`` raise, as a kill would stop it."""
    training_step = DFCVAEModule.training_step

    def crashing(self, batch, batch_idx):
        if self.global_step == step:
            raise Crash(f"step {step}")
        return training_step(self, batch, batch_idx)

    monkeypatch.setattr(DFCVAEModule, "training_step", crashing)


def test_same_seed_and_config_give_bit_identical_weights(
    tmp_path: Path, cache_dir: Path, reference: Path
) -> None:
    again = train(config(cache_dir), tmp_path / "again", progress=False)
    assert_same_weights(again, reference)
    assert step_of(again / "checkpoints" / "last.ckpt") == STEPS


def test_a_run_that_dies_mid_epoch_resumes_to_the_same_weights(
    tmp_path: Path, cache_dir: Path, reference: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    crash_at(monkeypatch, 22)
    with pytest.raises(Crash):
        train(config(cache_dir), run, progress=False)
    assert not (run / "model.safetensors").exists()
    assert step_of(run / "checkpoints" / "last.ckpt") == 20  # batch 4 of the second epoch
    monkeypatch.undo()
    train(config(cache_dir), run, resume=True, progress=False)
    assert_same_weights(run, reference)
    assert step_of(run / "checkpoints" / "last.ckpt") == STEPS


def test_a_run_stopped_by_max_steps_at_an_epoch_end_extends_exactly(
    tmp_path: Path, cache_dir: Path, reference: Path
) -> None:
    """Lightning alone restores this checkpoint one epoch off (see ExactResume)."""
    run = train(config(cache_dir, max_steps=16), tmp_path / "run", progress=False)
    train(config(cache_dir), run, resume=True, progress=False)
    assert_same_weights(run, reference)


def test_corrupt_checkpoints_are_named_and_resume_falls_back(
    tmp_path: Path, cache_dir: Path, reference: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    (run / "model.safetensors").unlink()
    checkpoints = run / "checkpoints"
    last = checkpoints / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # truncated
    (checkpoints / "step0000020.ckpt").write_bytes(b"\x00garbage" * 100)
    torch.save({"not": "a checkpoint"}, checkpoints / "epoch001-step0000024.ckpt")
    with pytest.raises(RunDirError, match=r"last.ckpt: truncated or corrupt"):
        read_checkpoint(last)
    with pytest.warns(UserWarning) as record:
        chosen = resume_checkpoint(run)
    assert chosen.name == "epoch000-step0000016.ckpt"  # the newest good one
    warned = [str(w.message) for w in record]
    assert any(
        "last.ckpt: truncated or corrupt" in m and "epoch000-step0000016" in m for m in warned
    )
    assert any(
        "step0000020.ckpt: corrupt, or pickled objects other than tensors" in m for m in warned
    )
    assert any("epoch001-step0000024.ckpt: not a training checkpoint" in m for m in warned)
    with pytest.warns(UserWarning, match="resuming from epoch000-step0000016.ckpt"):
        train(config(cache_dir), run, resume=True, progress=False)
    assert_same_weights(run, reference)  # steps 17..24 done again, identically


def test_no_readable_checkpoint_is_one_line_naming_them(tmp_path: Path, cache_dir) -> None:
    checkpoints = tmp_path / "run" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "last.ckpt").write_bytes(b"")
    with pytest.raises(RunDirError, match=r"no readable checkpoint in .*last.ckpt: truncated"):
        resume_checkpoint(tmp_path / "run")


def test_checkpoints_are_written_to_a_temporary_file_then_renamed(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = build_trainer(config(cache_dir), tmp_path / "run", progress=False)
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 1}, path)
    before = path.read_bytes()

    def dies_half_way(obj, f, *args, **kwargs):  # a full disk in the middle of the write
        Path(f).write_bytes(before[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(RunDirError, match=r"last.ckpt: cannot write .*No space left on device"):
        io.save_checkpoint({"global_step": 2}, path)
    assert path.read_bytes() == before  # the old file, whole
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # no temporary file left


def test_a_full_disk_while_training_is_one_line_and_the_run_resumes(
    tmp_path: Path, cache_dir: Path, reference: Path, monkeypatch, capsys
) -> None:
    run = tmp_path / "run"
    save = torch.save
    calls = []

    def fills_up(obj, f, *args, **kwargs):
        calls.append(f)
        if len(calls) > 4:  # step0000005, last, step0000010, last, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", fills_up)
    code = main(cli_args(cache_dir, tmp_path, out=run))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "No space left on device" in err[0] and "--resume" in err[0]
    assert step_of(run / "checkpoints" / "last.ckpt") == 10  # intact
    monkeypatch.setattr(torch, "save", save)  # space freed
    train(config(cache_dir), run, resume=True, progress=False)
    assert_same_weights(run, reference)


def test_too_little_free_space_is_refused_before_training(
    tmp_path: Path, cache_dir: Path, monkeypatch
) -> None:
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        run_dir_module.shutil, "disk_usage", lambda path: usage._replace(free=150 * 2**20)
    )
    with pytest.raises(RunDirError, match=r"--out .*run: only 150 MiB free on its disk"):
        train(config(cache_dir), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "config.json").exists()


def test_an_unwritable_output_folder_is_refused_before_training(
    tmp_path: Path, cache_dir: Path
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(RunDirError, match=r"--out .*a-file/run: not writable \(Not a directory\)"):
        train(config(cache_dir), tmp_path / "a-file" / "run", progress=False)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(RunDirError, match=r"not writable \(Permission denied\)"):
            train(config(cache_dir), locked / "run", progress=False)


def test_a_non_finite_loss_stops_the_run_in_one_line_and_keeps_the_checkpoints(
    tmp_path: Path, cache_dir: Path, monkeypatch, capsys
) -> None:
    run = tmp_path / "run"
    forward = DFCVAELoss.forward

    def nan_at_step_7(self, x, out, step):
        terms = forward(self, x, out, step)
        if step == 7:
            terms.reconstruction = terms.reconstruction * float("nan")
            terms.total = terms.total * float("nan")
        return terms

    monkeypatch.setattr(DFCVAELoss, "forward", nan_at_step_7)
    code = main(cli_args(cache_dir, tmp_path, out=run))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "step 7: the loss is nan (kl=" in err[0] and "reconstruction=nan" in err[0]
    assert step_of(run / "checkpoints" / "last.ckpt") == 5  # the last good one, intact
    assert not (run / "model.safetensors").exists()


def test_non_finite_gradients_stop_the_run_naming_the_step_and_loss_terms(
    tmp_path: Path, cache_dir: Path, monkeypatch
) -> None:
    after_backward = DFCVAEModule.on_after_backward

    def poisoned(self):
        if self.global_step == 3:
            next(self.vae.parameters()).grad[0] = float("inf")
        after_backward(self)

    monkeypatch.setattr(DFCVAEModule, "on_after_backward", poisoned)
    with pytest.raises(Exception, match=r"step 3: NaN or Inf in the gradients .*kl=.*reconstr"):
        train(config(cache_dir), tmp_path / "run", progress=False)


def logged_steps(run: Path) -> list[int]:
    with open(run / "logs" / "metrics.csv") as f:
        return [int(row["step"]) for row in csv.DictReader(f) if row.get("train/total_step")]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_weights(
    tmp_path: Path, cache_dir: Path
) -> None:
    """Two real processes of the same run; one is killed with SIGKILL mid-epoch, then resumed."""
    dfcvae = str(Path(sys.executable).with_name("dfcvae"))
    command = [
        dfcvae,
        *cli_args(
            cache_dir,
            tmp_path,
            **{"max-steps": 40, "checkpoint-every-n-steps": 3, "log-every-n-steps": 1},
        ),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", DFCVAE_OFFLINE="1")
    quiet = dict(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    whole = subprocess.Popen([*command, "--out", str(tmp_path / "whole")], **quiet)
    killed = subprocess.Popen([*command, "--out", str(tmp_path / "killed")], **quiet)
    checkpoints = tmp_path / "killed" / "checkpoints"
    deadline = time.monotonic() + 240
    while not (checkpoints / "step0000021.ckpt").exists():  # 5 steps into the second epoch
        assert killed.poll() is None, killed.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL
    assert not (tmp_path / "killed" / "model.safetensors").exists()
    first_epoch = checkpoints / "epoch000-step0000016.ckpt"
    first_epoch_bytes = first_epoch.read_bytes()
    at_kill = step_of(resume_checkpoint(tmp_path / "killed"))
    assert 18 <= at_kill < 40 and at_kill % 16 != 0  # a mid-epoch checkpoint

    resumed = subprocess.run(
        [dfcvae, "train", "--out", str(tmp_path / "killed"), "--resume", "--quiet"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert whole.wait(timeout=300) == 0, whole.stderr.read().decode()
    assert_same_weights(tmp_path / "killed", tmp_path / "whole")
    assert step_of(checkpoints / "last.ckpt") == step_of(tmp_path / "whole/checkpoints/last.ckpt")
    assert first_epoch.read_bytes() == first_epoch_bytes  # continued, not started over
    assert not list(checkpoints.glob(".*.tmp"))
    steps = logged_steps(tmp_path / "killed")
    assert steps == sorted(set(steps)) and steps[-1] >= 38  # one log row a step, none twice


def test_the_train_sampler_resumes_part_way_through_the_same_shuffle() -> None:
    from dfcvae.training.resume import ResumableSampler

    data = list(range(50))
    for rank in (0, 1):
        whole = ResumableSampler(data, num_replicas=2, rank=rank, seed=3, drop_last=True)
        whole.set_epoch(4)
        order = list(whole)
        resumed = ResumableSampler(data, num_replicas=2, rank=rank, seed=3, drop_last=True,
                                   current_epoch=lambda: 5)  # fmt: skip
        resumed.resume(4, 10)
        assert list(resumed) == order[10:] and resumed.pass_epoch == 4
        whole.set_epoch(5)
        assert list(resumed) == list(whole) and resumed.pass_epoch == 5  # then whole epochs


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of 96 + 4 small asymmetric colour images, so that flips change the batches."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(100):
        pixels = rng.integers(0, 255, (24, 24, 3), np.uint8)
        pixels[:, :8] = 0  # a dark left edge
        split = "train" if i < 96 else "valid"
        Image.fromarray(pixels).save(root / name_in_split(f"p{i:03d}", ".png", split))
    return root


def photo_config(root: Path, cache: Path, **train):
    cfg = config(cache, **{"max_steps": 15, "batch_size": 16, "checkpoint_every_n_steps": 5,
                           "val_batches": 0, **train})  # fmt: skip
    cfg.data.dataset, cfg.data.root, cfg.data.limit = "folder", str(root), None
    cfg.model.channels = 3
    return cfg


def test_random_flips_resume_exactly_and_do_not_depend_on_workers(
    tmp_path: Path, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    reference = train(photo_config(photos, cache), tmp_path / "ref", progress=False)
    loader = DFCVAEDataModule("folder", root=photos, cache_dir=cache, image_size=32, batch_size=16)
    loader.setup("fit")
    keys = list(loader.train_dataloader().sampler)
    assert {flip for _, flip in keys} == {True, False}  # the sampler draws the flips
    crash_at(monkeypatch, 11)  # 6 steps an epoch: the last checkpoint is step 10, mid-epoch
    with pytest.raises(Crash):
        train(photo_config(photos, cache), tmp_path / "run", progress=False)
    monkeypatch.undo()
    train(photo_config(photos, cache), tmp_path / "run", resume=True, progress=False)
    assert_same_weights(tmp_path / "run", reference)
    workers = photo_config(photos, cache)
    workers.data.num_workers = 2
    assert_same_weights(train(workers, tmp_path / "workers", progress=False), reference)
