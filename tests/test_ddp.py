"""Distributed data parallel training: `dfcvae train --accelerator cpu --devices 2 --strategy ddp`
runs two processes (gloo) that train on different shards and end with identical weights.

The command runs through a small script that records, in each rank, the sample indices its
sampler hands out and a hash of its final parameters, then calls the real CLI. Lightning's
launcher starts rank 1 by running the same script again, so both ranks record. The hooks live
here, in the test: nothing in dfcvae exists only for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import needs_fashion_mnist

RECORDING_CLI = """
import hashlib, json, os, sys

from lightning.pytorch.callbacks import Callback

import dfcvae.training.trainer as training
from dfcvae.cli import main
from dfcvae.training.resume import ResumableSampler

seen = []
_iter = ResumableSampler.__iter__


def recording_iter(self):
    indices = list(_iter(self))
    seen.append(indices)
    return iter(indices)


ResumableSampler.__iter__ = recording_iter


def parameters_hash(vae):
    digest = hashlib.sha256()
    for name, p in sorted(vae.named_parameters()):
        digest.update(name.encode())
        digest.update(p.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class Record(Callback):
    def on_train_end(self, trainer, pl_module):
        record = {"rank": trainer.global_rank, "world": trainer.world_size,
                  "steps": trainer.global_step, "epochs": seen,
                  "weights": parameters_hash(pl_module.vae)}
        path = os.path.join(os.environ["DDP_RECORD_DIR"], f"rank{trainer.global_rank}.json")
        with open(path, "w") as f:
            json.dump(record, f)


_build_trainer = training.build_trainer


def build_trainer(*args, **kwargs):
    trainer = _build_trainer(*args, **kwargs)
    trainer.callbacks.append(Record())
    return trainer


training.build_trainer = build_trainer
sys.exit(main(sys.argv[1:]))
"""


def parameters_hash(state: dict[str, torch.Tensor], names: list[str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(names):
        digest.update(name.encode())
        digest.update(state[name].contiguous().numpy().tobytes())
    return digest.hexdigest()


@pytest.mark.slow
@needs_fashion_mnist
def test_two_cpu_processes_train_on_different_shards_and_end_with_identical_weights(
    tmp_path: Path, cache_dir: Path
):
    script = tmp_path / "recording_cli.py"
    script.write_text(RECORDING_CLI)
    out, records = tmp_path / "run", tmp_path / "records"
    records.mkdir()
    steps, batch, limit = 6, 16, 256
    command = [
        sys.executable, str(script), "train", "--preset", "pvae", "--out", str(out),
        "--dataset", "fashion-mnist", "--limit", str(limit), "--cache-dir", str(cache_dir),
        "--image-size", "32", "--channels", "1", "--latent-dim", "16",
        "--batch-size", str(batch), "--max-steps", str(steps), "--epochs", "1",
        "--precision", "32-true", "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp",
        "--quiet",
    ]  # fmt: skip
    env = {**os.environ, "DFCVAE_OFFLINE": "1", "DDP_RECORD_DIR": str(records)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    ranks = [json.loads((records / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert all(r["world"] == 2 and r["steps"] == steps for r in ranks)

    # Different shards: the two ranks' first-epoch indices are disjoint halves of the set.
    first = [set(r["epochs"][0]) for r in ranks]
    assert first[0].isdisjoint(first[1])
    assert len(first[0]) == len(first[1]) == limit // 2
    assert first[0] | first[1] == set(range(limit))

    # Identical weights: gradients are averaged, so the parameters agree bit for bit, and the
    # model that rank 0 saved is the same.
    assert ranks[0]["weights"] == ranks[1]["weights"]
    from safetensors.torch import load_file

    from dfcvae import load

    saved = load_file(str(out / "model.safetensors"))
    names = [name for name, _ in load(out).named_parameters()]
    assert parameters_hash(saved, names) == ranks[0]["weights"]
