"""The fast training path (channels-last weights and inputs, fused Adam, bf16 autocast where
the hardware has it) gives the losses of the plain fp32 NCHW path, step for step.

Stated tolerances on the relative difference of each step's loss:
- fp32 channels-last + fused Adam vs fp32 NCHW + per-parameter Adam: 1e-5 (only the order of
  floating-point sums differs; measured about 3e-7);
- bf16 autocast vs fp32: 5e-2 (bf16 keeps 8 bits of mantissa, the loss is reduced in fp32;
  measured up to 2e-2 after three steps at batch 4);
- torch.compile vs eager (slow test): 1e-4.

No timing here: docs/benchmarks.md has the speed.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext

import pytest
import torch
import torch.nn.functional as F

from dfcvae import config_from_preset
from dfcvae.training.module import DFCVAEModule

FP32_TOLERANCE = 1e-5
BF16_TOLERANCE = 5e-2
COMPILE_TOLERANCE = 1e-4


def feature_config(
    batch_size: int = 4, layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1")
):
    """VAE-123 at 32x32 RGB with a random VGG19 (timing weights: no download in tests)."""
    config = config_from_preset(
        "vae-123",
        {
            "model": {"image_size": 32, "channels": 3, "latent_dim": 16, "base_width": 8},
            "loss": {"loss_weights": "random", "layers": list(layers)},
            "train": {"batch_size": batch_size, "lr": 1e-3},
        },
    )
    return config.validate()


def smooth_batches(steps: int, batch: int, size: int = 32) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    coarse = torch.rand(steps * batch, 3, 4, 4, generator=generator)
    images = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    return list(images.clamp(0, 1).split(batch))


def run_steps(config, batches, *, fast: bool, bf16: bool = False) -> list[float]:
    """The losses of a manual loop doing what Lightning's automatic optimisation does:
    configure_model, configure_optimizers, training_step (under autocast for bf16-mixed),
    zero_grad, backward, optimizer step. ``fast=False`` is the plain fp32 NCHW path."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = DFCVAEModule(config.to_dict())
    if not fast:
        module.memory_format = torch.contiguous_format
    module.configure_model()
    if fast:
        optimizer = module.configure_optimizers()
    else:
        train = config.train
        optimizer = torch.optim.Adam(
            module.vae.parameters(), lr=train.lr, betas=(train.beta1, train.beta2), foreach=False
        )
    cast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer
        for index, x in enumerate(batches):
            with cast:
                loss = module.training_step((x, None), index)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def relative_differences(a: list[float], b: list[float]) -> list[float]:
    return [abs(x - y) / abs(y) for x, y in zip(a, b)]


def test_training_lays_weights_out_channels_last_and_fuses_adam():
    module = DFCVAEModule(feature_config().to_dict())
    module.configure_model()
    conv = module.vae.encoder.features[0][0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert not conv.is_contiguous()
    loss_conv = module.criterion.loss_network.features[0].weight
    assert loss_conv.is_contiguous(memory_format=torch.channels_last)
    optimizer = module.configure_optimizers()
    assert optimizer.defaults["fused"] is True
    assert (
        module.vae.state_dict().keys()
        == DFCVAEModule(feature_config().to_dict()).vae.state_dict().keys()
    )


def test_channels_last_and_fused_adam_match_the_fp32_nchw_losses():
    config = feature_config()
    batches = smooth_batches(steps=4, batch=4)
    fast = run_steps(config, batches, fast=True)
    plain = run_steps(config, batches, fast=False)
    assert fast[0] > 0 and plain[-1] < plain[0] * 1.5
    assert max(relative_differences(fast, plain)) < FP32_TOLERANCE


def test_bf16_autocast_matches_the_fp32_losses_within_the_stated_tolerance():
    # bf16 is emulated (slow) on CPUs without bf16 instructions: two shallow layers suffice.
    config = feature_config(batch_size=4, layers=("relu1_1", "relu2_1"))
    batches = smooth_batches(steps=3, batch=4)
    bf16 = run_steps(config, batches, fast=True, bf16=True)
    fp32 = run_steps(config, batches, fast=False)
    differences = relative_differences(bf16, fp32)
    assert max(differences) < BF16_TOLERANCE
    assert max(differences) > 0  # bf16 really ran: it cannot be bit-identical


def pixel_config(preset: str = "pvae", **train):
    overrides = {"model": {"image_size": 32, "channels": 3, "latent_dim": 16, "base_width": 8},
                 "train": {"batch_size": 8, **train}}  # fmt: skip
    return config_from_preset(preset, overrides).validate()


def test_the_pvae_matches_on_the_fast_path():
    batches = smooth_batches(steps=5, batch=8)
    fast = run_steps(pixel_config(), batches, fast=True)
    plain = run_steps(pixel_config(), batches, fast=False)
    assert max(relative_differences(fast, plain)) < FP32_TOLERANCE


@pytest.mark.slow
def test_the_compiled_step_matches_the_eager_one():
    """``train.compile``: the VAE (its replication padding included) compiles, forward and
    backward, and gives the eager losses."""
    batches = smooth_batches(steps=3, batch=8)
    compiled = run_steps(pixel_config(compile=True), batches, fast=True)
    eager = run_steps(pixel_config(), batches, fast=True)
    assert max(relative_differences(compiled, eager)) < COMPILE_TOLERANCE
