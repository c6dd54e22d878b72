"""Training-step measurements: dfcvae's own step, run by Lightning exactly as `dfcvae train` runs
it, against a naive reference written the way the seed ports write it.

- ``fit_throughput``: ``trainer.fit`` of ``DFCVAEModule`` with the Trainer that ``dfcvae train``
  builds (``build_trainer``: its precision, callbacks and loggers), fed one fixed batch so that
  no data pipeline is in the loop. A callback times each step from ``on_train_batch_start`` to
  ``on_train_batch_end`` (training_step, backward, optimizer step); the reference and the
  replay of the step's own convolutions (``ceiling.py``) run in between, in alternating runs of
  two steps each, of which the second of each is timed: all see the same machine load, each in
  its own steady state (``StepTimer``).
- ``NaiveReference``: fp32, NCHW, the decoder run layer by layer (``DFCVAE`` as built), the
  whole VGG19 ``features`` run on both the image and the reconstruction with autograd on
  (weights frozen, as the seeds do), the taps picked on the way; ``torch.optim.Adam`` with its
  default (per-parameter loop on CPU).
- ``step_flops``: FLOPs of one dfcvae step (forward, backward, optimizer) by FlopCounterMode.
- ``parity``: the losses of N steps of dfcvae's fast path and of the fp32 reference, from the
  same seed, weights and batches.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.vgg import cfgs, make_layers

from ceiling import kernel_flops, record_kernels, replay
from common import Clock, Samples, set_allocator
from dfcvae import RunConfig, config_from_preset
from dfcvae.loss_networks.vgg import VGG19
from dfcvae.training.memory import keep_freed_memory, trains_on_cpu
from dfcvae.training.module import DFCVAEModule
from dfcvae.training.precision import resolve_precision
from dfcvae.training.trainer import build_trainer
from dfcvae.vae.losses import kl_divergence, pixel_loss
from dfcvae.vae.model import DFCVAE

warnings.filterwarnings("ignore", message=".*RANDOM weights.*")
warnings.filterwarnings("ignore", message=".*self.log.*")
warnings.filterwarnings("ignore", message=".*does not have many workers.*")
warnings.filterwarnings("ignore", message=".*LeafSpec.*")


def bench_config(
    preset: str,
    *,
    batch_size: int = 64,
    image_size: int = 64,
    device: str = "cpu",
    precision: str = "auto",
    compile: bool = False,
) -> RunConfig:
    """The preset at ``image_size`` on RGB images, with a randomly initialised VGG19 (no
    ImageNet weights offline; the timing is the same, the images would not be)."""
    overrides = {
        "model": {"image_size": image_size, "channels": 3},
        "train": {
            "batch_size": batch_size,
            "precision": precision,
            "accelerator": "gpu" if device == "cuda" else "cpu",
            "devices": "1",
            "compile": compile,
        },
    }
    config = config_from_preset(preset, overrides)
    if config.loss.uses_loss_network:
        config.loss.loss_weights = "random"
    return config.validate()


def precision_of(config: RunConfig) -> str:
    return resolve_precision(config.train.precision, config.train.accelerator)


def autocast(config: RunConfig, device: torch.device):
    """The autocast that Lightning's precision plugin applies for ``precision_of(config)``."""
    precision = precision_of(config)
    if precision == "bf16-mixed":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "16-mixed":
        return torch.autocast(device.type, dtype=torch.float16)
    return nullcontext()


def synthetic_images(n: int, channels: int, size: int, seed: int = 0) -> torch.Tensor:
    """Smooth random images (N, C, S, S) in [0, 1]: blobs of a few pixels' scale, not noise."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, channels, max(2, size // 8), max(2, size // 8), generator=generator)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


class NaiveReference:
    """One training step as the seed ports write it (see the module docstring)."""

    def __init__(self, config: RunConfig, device: torch.device):
        self.config = config
        self.vae = DFCVAE(config.model).to(device)  # the paper's layers, one after the other
        train = config.train
        self.optimizer = torch.optim.Adam(
            self.vae.parameters(), lr=train.lr, betas=(train.beta1, train.beta2)
        )
        self.vgg: nn.Sequential | None = None
        if config.loss.uses_loss_network:
            self.vgg = make_layers(cfgs["E"]).to(device).eval().requires_grad_(False)
            self.taps = [VGG19.layers[name] for name in config.loss.layers]
            self.mean = torch.tensor(VGG19.mean, device=device).view(1, 3, 1, 1)
            self.std = torch.tensor(VGG19.std, device=device).view(1, 3, 1, 1)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (x - self.mean) / self.std
        found = {}
        for index, layer in enumerate(self.vgg):
            h = layer(h)
            if index in self.taps:
                found[index] = h
        return [found[index] for index in self.taps]

    def loss(self, x: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.config.loss
        out = self.vae(x, eps)
        kl = kl_divergence(out.mu, out.logvar)
        if cfg.kl_reduction == "sum":
            kl = kl * x.shape[0]
        if cfg.reconstruction == "pixel":
            reconstruction = pixel_loss(out.recon_logits, x, cfg.pixel)
        else:
            weights = cfg.layer_weights or [1.0] * len(cfg.layers)
            pairs = zip(weights, self.features(x), self.features(out.recon))
            scale = VGG19.feature_scale if cfg.feature_scale is None else cfg.feature_scale
            reconstruction = scale**2 * sum(w * F.mse_loss(r, t) for w, t, r in pairs)
        return cfg.kl_weight * kl + cfg.recon_weight * reconstruction

    def step(self, x: torch.Tensor, eps: torch.Tensor | None = None) -> float:
        """One step; ``eps``: the reparameterisation noise (default: drawn from torch's RNG)."""
        set_allocator(keep_freed=False)  # a default process (dfcvae's CPU training sets it)
        loss = self.loss(x, eps)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()


class RepeatedBatch(Dataset):
    """``length`` copies of one ``(images, labels)`` batch: a loader with no data pipeline."""

    def __init__(self, images: torch.Tensor, length: int):
        self.batch = (images, torch.zeros(len(images), dtype=torch.int64))
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        return self.batch


class StepTimer(Callback):
    """Times each training step. With ``between`` (the reference, and the kernel replay), they
    alternate with it in runs of ``run`` steps each and only the last step of each run is
    timed, so that each is timed in its own steady state: a step right after the other's pays
    for the other's memory habits (the reference runs with glibc's default settings, which give
    freed memory back, and dfcvae's next step page-faults it in again). ``others[i]`` holds the
    times of ``between[i]``. Stops the fit once ``wanted`` steps after the warm-up are in."""

    def __init__(self, device: torch.device, warmup: int, wanted: int, between=(), run=2):
        self.device, self.warmup, self.wanted = device, warmup, wanted
        self.between = list(between)
        self.run = run if self.between else 1
        self.steps, self.warmup_s = Samples(), []
        self.others = [Samples() for _ in self.between]
        self.losses: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.clock = Clock(self.device).__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.clock.__exit__()
        self.losses.append(float(outputs["loss"]))
        warm = batch_idx >= self.warmup
        last_of_run = (batch_idx - self.warmup + 1) % self.run == 0
        if not warm:
            self.warmup_s.append(self.clock.interval.seconds)
        elif last_of_run:
            self.steps.add(self.clock.interval)
        if last_of_run or not warm:
            for other, samples in zip(self.between, self.others):
                for _ in range(self.run if warm else 1):
                    with Clock(self.device) as clock:
                        other()
                if warm:
                    samples.add(clock.interval)
        if len(self.steps.intervals) >= self.wanted:
            trainer.should_stop = True


def allocator_as_the_cli_sets_it(config: RunConfig) -> None:
    """glibc's allocator as `dfcvae train` sets it for this run (``training.memory``)."""
    if trains_on_cpu(config.train.accelerator):
        keep_freed_memory()


def fit_throughput(
    config: RunConfig,
    device: torch.device,
    *,
    warmup: int = 2,
    wanted: int = 5,
    reference: bool = True,
) -> dict:
    """Images per second of dfcvae's step under ``trainer.fit`` (and of the naive reference,
    interleaved): medians over ``wanted`` steps after ``warmup`` steps."""
    batch = config.train.batch_size
    x = synthetic_images(batch, config.model.channels, config.model.image_size).to(device)
    between = []
    if reference:
        torch.manual_seed(config.train.seed)
        naive = NaiveReference(config, device)
        naive.step(x)  # warm-up

        def naive_step() -> None:
            naive.step(x)
            if device.type == "cpu":
                keep_freed_memory()  # back to what `dfcvae train` sets for dfcvae's steps

        kernels = step_kernels(config, device, x)
        between = [naive_step, lambda: replay(kernels)]

    timer = StepTimer(device, warmup, wanted, between)
    config.train.max_steps = warmup + wanted * timer.run
    config.train.epochs = 1
    allocator_as_the_cli_sets_it(config)
    with tempfile.TemporaryDirectory() as out:
        trainer = build_trainer(config, Path(out), progress=False)
        trainer.callbacks.append(timer)
        module = DFCVAEModule(config.to_dict())
        loader = DataLoader(RepeatedBatch(x.cpu(), config.train.max_steps), batch_size=None)
        trainer.fit(module, train_dataloaders=loader)
    result = {
        "precision": precision_of(config),
        "dfcvae": timer.steps.summary(),
        "dfcvae_images_per_s": batch / timer.steps.median,
        "dfcvae_first_steps_s": timer.warmup_s,
    }
    if reference:
        result["naive"] = timer.others[0].summary()
        result["naive_images_per_s"] = batch / timer.others[0].median
        result["kernels"] = timer.others[1].summary()
        result["kernels_images_per_s"] = batch / timer.others[1].median
        result["kernel_flops"] = kernel_flops(kernels)
    return result


def step_kernels(config: RunConfig, device: torch.device, x: torch.Tensor) -> list:
    """The convolutions and matrix multiplies of one dfcvae step on ``x`` (``ceiling.py``),
    recorded from the manual step after two warm-up steps, in ``DFCVAEModule``'s layout."""
    config = RunConfig.from_dict(config.to_dict())
    _, step = module_step(config, device)
    x = x.contiguous(memory_format=DFCVAEModule.memory_format)
    for _ in range(2):
        step(x)
    return record_kernels(lambda: step(x))


def module_step(config: RunConfig, device: torch.device) -> tuple[DFCVAEModule, Callable]:
    """A DFCVAEModule and one manual step that does what Lightning's automatic optimisation
    does (configure_model, configure_optimizers, training_step under the precision's autocast,
    zero_grad, backward, on_before_optimizer_step, optimizer step), for FLOP counting and parity."""
    module = DFCVAEModule(config.to_dict()).to(device)
    module.configure_model()
    optimizer = module.configure_optimizers()
    step_index = [0]

    def step(x: torch.Tensor) -> float:
        with autocast(config, device):
            loss = module.training_step((x, None), step_index[0])
        optimizer.zero_grad()
        loss.backward()
        module.on_before_optimizer_step(optimizer)
        optimizer.step()
        step_index[0] += 1
        return loss.item()

    return module, step


def step_flops(config: RunConfig, device: torch.device, naive: bool = False) -> int:
    """FLOPs of one training step of dfcvae (eager; torch.compile does not change the count)
    or of the naive reference."""
    config = RunConfig.from_dict(config.to_dict())
    config.train.compile = False
    x = synthetic_images(config.train.batch_size, config.model.channels, config.model.image_size)
    step = NaiveReference(config, device).step if naive else module_step(config, device)[1]
    with FlopCounterMode(display=False) as counter:
        step(x.to(device))
    return counter.get_total_flops()


def parity(config: RunConfig, device: torch.device, steps: int = 20) -> dict:
    """Loss of each of ``steps`` steps: dfcvae's fast path vs the fp32 NCHW reference, from the
    same weights (copied), the same reparameterisation noise (same seed) and the same batches."""
    batch, channels, size = config.train.batch_size, config.model.channels, config.model.image_size
    images = synthetic_images(batch * steps, channels, size, seed=1).to(device)
    batches = images.split(batch)
    config = RunConfig.from_dict(config.to_dict())
    torch.manual_seed(config.train.seed)
    module, fast_step = module_step(config, device)
    reference = NaiveReference(config, device)
    reference.vae.load_state_dict(module.vae.state_dict())
    if reference.vgg is not None:
        truncated = module.criterion.loss_network.features.state_dict()
        reference.vgg.load_state_dict(truncated, strict=False)
    # The module draws its noise from a generator seeded by (seed, step, rank); outside a
    # Trainer the step stays 0, so every step gets this same noise. The reference gets it too.
    eps = module.noise(batch)
    initial = reference.vae.state_dict()
    initial = {k: v.clone() for k, v in initial.items()}
    fast = [fast_step(b) for b in batches]
    ref = [reference.step(b, eps) for b in batches]
    # The noise floor: the same reference again with one thread, which changes only the order
    # of floating-point sums inside the convolutions.
    torch.manual_seed(config.train.seed)
    again = NaiveReference(config, device)
    again.vae.load_state_dict(initial)
    if again.vgg is not None:
        again.vgg.load_state_dict(reference.vgg.state_dict())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        floor = [again.step(b, eps) for b in batches]
    finally:
        torch.set_num_threads(threads)
    diffs = [abs(f - r) / abs(r) for f, r in zip(fast, ref)]
    floor_diffs = [abs(f - r) / abs(r) for f, r in zip(floor, ref)]
    return {
        "steps": steps,
        "precision": precision_of(config),
        "fast": fast,
        "reference": ref,
        "first_rel_diff": diffs[0],
        "max_rel_diff": max(diffs),
        "final_rel_diff": diffs[-1],
        "floor_max_rel_diff": max(floor_diffs),
    }


def peak_memory_run(config: RunConfig, device: torch.device, which: str, steps: int = 3) -> None:
    """Run ``steps`` steps of one implementation in this (fresh) process, for its peak memory."""
    x = synthetic_images(config.train.batch_size, config.model.channels, config.model.image_size)
    x = x.to(device)
    if which == "naive":
        torch.manual_seed(0)
        naive = NaiveReference(config, device)
        for _ in range(steps):
            naive.step(x)
        return
    config.train.max_steps, config.train.epochs = steps, 1
    allocator_as_the_cli_sets_it(config)
    with tempfile.TemporaryDirectory() as out:
        trainer = build_trainer(config, Path(out), progress=False)
        module = DFCVAEModule(config.to_dict())
        trainer.fit(
            module, train_dataloaders=DataLoader(RepeatedBatch(x.cpu(), steps), batch_size=None)
        )
