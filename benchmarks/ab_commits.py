"""Is the training step slower than at an earlier commit? Both in one process, as a ratio.

    .venv/bin/python benchmarks/ab_commits.py --before REV [--presets vae-123,pvae] [--steps 7]
        [--threads 1]

``REV``'s ``src/dfcvae`` is copied out of git into a temporary package ``dfcvae_before`` (its
imports renamed), so the two versions run side by side. For each preset both build the step
that ``dfcvae train`` runs (``DFCVAEModule``: ``configure_model``, its optimizer,
``training_step`` under the autocast ``--precision auto`` picks here, backward, optimizer step)
from the same seed, at 64x64 and batch 64 with a random VGG19, on one fixed batch of smooth
images. They alternate in runs of two steps, the second of each timed, so both see the same load
(the machine may be shared). Printed: the median seconds per step of each, after two warm-up
steps, and after / before with the spread of the per-round ratios; for wall time and for the
CPU time of this process, which other processes on a shared machine disturb less (with
``--threads 1``, no thread spins waiting for a descheduled one).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import warnings
from pathlib import Path

import torch

from common import Clock
from dfcvae import RunConfig
from step import autocast, bench_config, precision_of, synthetic_images

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "dfcvae_before"


def copy_before(rev: str, into: Path) -> None:
    """``rev``'s src/dfcvae as the package ``dfcvae_before`` under ``into``."""
    archive = subprocess.run(
        ["git", "archive", rev, "src/dfcvae"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    package = into / BEFORE
    (into / "src" / "dfcvae").rename(package)
    for path in package.rglob("*.py"):
        text = re.sub(r"\b(from|import) dfcvae\b", rf"\1 {BEFORE}", path.read_text())
        path.write_text(text)


def known_to(package: str, document: dict) -> dict:
    """``document`` (``RunConfig.to_dict()``) without the options that ``package``'s RunConfig
    lacks (added since the earlier commit, each at a default that leaves the step as it was) and
    without unset (None) options, which take the earlier commit's default (e.g. ``epochs``, which
    a single step never reaches): the earlier commit refuses both."""
    for where in ("vae.run_config", "run_config"):  # the module moved into vae/
        try:
            run_config = __import__(f"{package}.{where}", fromlist=["RunConfig"]).RunConfig
            break
        except ImportError:
            continue
    sections = {f.name: f.default_factory for f in dataclasses.fields(run_config)}
    kept = {}
    for name, value in document.items():
        if isinstance(value, dict) and name in sections:
            known = {f.name for f in dataclasses.fields(sections[name])}
            value = {k: v for k, v in value.items() if k in known and v is not None}
        kept[name] = value
    return kept


def module_step(package: str, config: RunConfig, x: torch.Tensor):
    """One training step of ``package``'s DFCVAEModule, as ``step.module_step`` builds it."""
    module_cls = __import__(f"{package}.training.module", fromlist=["DFCVAEModule"]).DFCVAEModule
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = module_cls(known_to(package, config.to_dict()))
    module.configure_model()
    optimizer = module.configure_optimizers()
    x = x.contiguous(memory_format=module_cls.memory_format)

    def step() -> float:
        with autocast(config, torch.device("cpu")), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # self.log outside a Trainer
            loss = module.training_step((x, None), 0)
        optimizer.zero_grad()
        loss.backward()
        module.on_before_optimizer_step(optimizer)
        optimizer.step()
        return loss.item()

    return step


def compare(preset: str, steps: int) -> dict:
    config = bench_config(preset)
    x = synthetic_images(config.train.batch_size, config.model.channels, config.model.image_size)
    runs = {name: module_step(name, config, x) for name in (BEFORE, "dfcvae")}
    losses = {name: [run(), run()][-1] for name, run in runs.items()}  # warm-up
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(steps):
        for name, run in runs.items():
            run()
            with Clock(torch.device("cpu")) as clock:
                run()
            wall[name].append(clock.interval.seconds)
            cpu[name].append(clock.interval.seconds * clock.interval.own_cores)
    result = {
        "preset": preset,
        "precision": precision_of(config),
        "threads": torch.get_num_threads(),
    }
    for kind, times in (("wall", wall), ("cpu", cpu)):
        ratios = [after / before for after, before in zip(times["dfcvae"], times[BEFORE])]
        result[kind] = {
            "before_s": statistics.median(times[BEFORE]),
            "after_s": statistics.median(times["dfcvae"]),
            "ratio_median": statistics.median(ratios),
            "ratio_of_medians": statistics.median(times["dfcvae"])
            / statistics.median(times[BEFORE]),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
        }
    result["warm_losses"] = losses
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="the git revision to compare with")
    parser.add_argument("--presets", default="vae-123,pvae")
    parser.add_argument("--steps", type=int, default=7, help="timed steps of each")
    parser.add_argument("--threads", type=int, help="intra-op threads (default: torch's)")
    options = parser.parse_args()
    if options.threads:
        torch.set_num_threads(options.threads)
    from dfcvae.training.memory import keep_freed_memory

    keep_freed_memory()  # what dfcvae train sets on CPU, for both
    with tempfile.TemporaryDirectory() as folder:
        copy_before(options.before, Path(folder))
        sys.path.insert(0, folder)
        for preset in options.presets.split(","):
            print(json.dumps(compare(preset, options.steps)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
