"""The fast training path (the fused forms of ``dfcvae.vae.fast_paths``, channels-last weights and
inputs, fused Adam, bf16 autocast where the hardware has it) gives the losses of the plain fp32
NCHW path of the paper's layers, step for step; each fused form equals its plain form on its
own, and forward hooks on the paper's layers fire in either form.

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

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.data import DataLoader, TensorDataset

from dfcvae import DFCVAE, PRESETS, ModelConfig, config_from_preset
from dfcvae.loss_networks import LossNetwork, get_spec
from dfcvae.training.module import DFCVAEModule
from dfcvae.vae.fast_paths import FusedDecoderBlock, fuse_decoder
from dfcvae.vae.model import DecoderBlock, decoder_block

aten = torch.ops.aten
FP32_TOLERANCE = 1e-5
BF16_TOLERANCE = 5e-2
COMPILE_TOLERANCE = 1e-4


class OpRecorder(TorchDispatchMode):
    """The ATen operators run inside the block (forward and backward): ``seen``."""

    def __init__(self):
        super().__init__()
        self.seen: set = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN206
        self.seen.add(func.overloadpacket)
        return func(*args, **(kwargs or {}))


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
    zero_grad, backward, optimizer step. ``fast=False`` is the plain fp32 NCHW path: the paper's
    decoder layers one after the other, the feature MSE on fp32 copies."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = DFCVAEModule(config.to_dict())
    if not fast:
        module.memory_format = torch.contiguous_format
        fuse_decoder(module.vae, fused=False)
        if module.criterion.perceptual is not None:
            module.criterion.perceptual.fused = False
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


def test_training_and_loading_build_the_fused_forms() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = DFCVAEModule(feature_config().to_dict())
    blocks = list(module.vae.decoder.features)
    assert blocks and all(type(block) is FusedDecoderBlock for block in blocks)
    assert module.criterion.perceptual.fused
    plain = fuse_decoder(module.vae, fused=False)
    assert all(type(block) is DecoderBlock for block in plain.decoder.features)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("last", [False, True])
def test_fused_decoder_block_equals_the_papers_layers(layout, last: bool) -> None:
    """The fused block's one transposed convolution gives the plain block's values and gradients
    (input, weight, bias), in float64 to rounding, in both memory layouts; same state dict."""
    torch.manual_seed(0)
    plain = decoder_block(6, 5, last=last).double().to(memory_format=layout)
    fused = FusedDecoderBlock(*plain).double()
    assert fused.state_dict().keys() == plain.state_dict().keys()
    x = torch.randn(3, 6, 7, 5, dtype=torch.float64).contiguous(memory_format=layout)
    grad = torch.randn(3, 5, 14, 10, dtype=torch.float64)
    results = []
    for block in (fused, plain):
        block.zero_grad()
        h = x.clone().requires_grad_()
        with OpRecorder() as ops:
            out = block(h)
        out.backward(grad)
        results.append((out, h.grad, block[2].weight.grad, block[2].bias.grad))
        assert (aten.upsample_nearest2d in ops.seen) == (block is plain)
    for fast, reference in zip(*results):
        assert fast.shape == reference.shape
        torch.testing.assert_close(fast, reference, rtol=1e-10, atol=1e-10)


def test_hooks_on_the_papers_layers_fire_in_the_fused_form() -> None:
    """A forward hook on the decoder's upsampling or convolution sees the paper's layer run
    (and its output), in a model whose decoder is fused; removing it brings the fused path
    back. Global hooks are seen too."""
    torch.manual_seed(0)
    model = fuse_decoder(DFCVAE(ModelConfig(image_size=32, channels=3, latent_dim=8))).eval()
    z = torch.randn(2, 8)
    expected = fuse_decoder(model, fused=False).decode(z)
    fuse_decoder(model)
    block = model.decoder.features[1]
    for layer in (block[0], block[2]):
        seen = []
        hook = layer.register_forward_hook(lambda m, i, o, seen=seen: seen.append(o.shape))
        with OpRecorder() as ops:
            torch.testing.assert_close(model.decode(z), expected)
        assert len(seen) == 1 and aten.upsample_nearest2d in ops.seen
        hook.remove()
        with OpRecorder() as ops:
            torch.testing.assert_close(model.decode(z), expected, rtol=1e-4, atol=1e-5)
        assert len(seen) == 1 and aten.upsample_nearest2d not in ops.seen
    seen = []
    hook = torch.nn.modules.module.register_module_forward_hook(
        lambda m, i, o: seen.append(type(m).__name__)
    )
    try:
        model.decode(z)
    finally:
        hook.remove()
    assert seen.count("Upsample") == seen.count("Conv2d") == 3  # the decoder's three blocks


def test_fused_block_follows_changed_layer_settings_and_slices() -> None:
    """Settings the one transposed convolution cannot do (bilinear upsampling here) run the
    paper's layers; a slice of a fused block (``block[1:]``) runs the layers it holds."""
    torch.manual_seed(0)
    plain = decoder_block(4, 3).eval()
    fused = FusedDecoderBlock(*plain).eval()
    x = torch.randn(2, 4, 6, 6)
    plain[0].mode = "bilinear"
    torch.testing.assert_close(fused(x), plain(x))
    plain[0].mode = "nearest"
    torch.testing.assert_close(fused[1:](x), nn.Sequential(*list(plain)[1:])(x))


class StepRecorder(L.Callback):
    """Records the ATen operators of every training step after the first (which builds one-off
    state) from batch start to batch end: forward, ``self.log``, backward, clipping, optimizer."""

    def __init__(self):
        self.ops, self.recorder = set(), None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
        if batch_idx >= 1:
            self.recorder = OpRecorder().__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        if self.recorder is not None:
            self.recorder.__exit__(None, None, None)
            self.ops |= self.recorder.seen
            self.recorder = None


@pytest.mark.parametrize("preset", list(PRESETS))
def test_a_training_step_of_every_preset_makes_no_tensor_from_python_data(
    preset: str, monkeypatch
) -> None:
    """No ``aten.lift_fresh`` (``torch.tensor`` of Python numbers, on CUDA a blocking copy from
    the host) in a training step under a real Trainer, with gradient clipping: forward, the
    logged values, backward and optimizer step; every loss network with random weights."""

    def random_network(name, layers, weights=None, input_size=None):  # noqa: ANN001, ANN202
        return LossNetwork(get_spec(name), layers, None, "random", input_size)

    monkeypatch.setattr("dfcvae.vae.losses.build_loss_network", random_network)
    overrides = {
        "model": {"image_size": 32, "channels": 3, "latent_dim": 8, "base_width": 8},
        "train": {"batch_size": 2},
    }
    config = config_from_preset(preset, overrides).validate()
    recorder = StepRecorder()
    trainer = L.Trainer(
        max_steps=3,
        accelerator="cpu",
        precision="32-true",
        gradient_clip_val=1.0,
        callbacks=[recorder],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    loader = DataLoader(TensorDataset(torch.cat(smooth_batches(steps=3, batch=2))), batch_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's notes on workers and logging intervals
        trainer.fit(DFCVAEModule(config.to_dict()), loader)
    assert aten.convolution in recorder.ops and aten.addmm in recorder.ops  # it saw the steps
    assert aten.lift_fresh not in recorder.ops
