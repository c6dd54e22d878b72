"""16-mixed trains: a loss-scaler overflow skips a step instead of stopping the run.

On CPU with ``torch.amp.GradScaler("cpu")`` (what Lightning's 16-mixed plugin uses on a GPU,
with "cuda"): the guard's logic on a small model, then ``DFCVAEModule`` under Lightning's
16-mixed plugin with a starting scale high enough that the first steps overflow.
"""

from __future__ import annotations

import warnings

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.plugins.precision import MixedPrecision
from torch.utils.data import DataLoader, TensorDataset

from dfcvae import config_from_preset
from dfcvae.errors import NonFiniteLossError
from dfcvae.training.module import DFCVAEModule
from dfcvae.training.nonfinite import MAX_SKIPPED_STEPS, NonFiniteGuard


def scaled_step(model, optimizer, scaler, guard, step: int, x: torch.Tensor, poison: bool = False):
    """What Lightning's 16-mixed plugin does around the hooks: scale, backward, unscale,
    (on_before_optimizer_step), scaler.step, scaler.update, (on_train_batch_end)."""
    loss = model(x).pow(2).mean()
    guard.loss(step, loss, loss * 0, loss)
    guard.check()
    optimizer.zero_grad()
    scaler.scale(loss).backward()
    if poison:
        model.weight.grad[0, 0] = float("nan")
    scaler.unscale_(optimizer)
    guard.gradients([p.grad for p in model.parameters()], scaler)
    guard.check()
    scaler.step(optimizer)
    scaler.update()
    guard.after_step(scaler)
    guard.check()


def small_model() -> tuple[torch.nn.Linear, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 8)
    return model, torch.optim.Adam(model.parameters(), lr=1e-2)


def test_overflowing_steps_are_skipped_and_training_goes_on() -> None:
    model, optimizer = small_model()
    # A scale so high that scaled fp32 gradients overflow: the first steps must be skipped.
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**120)
    guard = NonFiniteGuard(torch.device("cpu"))
    x = 100 * torch.randn(16, 8)
    before = model.weight.detach().clone()
    for step in range(40):
        scaled_step(model, optimizer, scaler, guard, step, x)
    skipped = int(guard.skipped_total)
    assert 1 <= skipped < MAX_SKIPPED_STEPS
    assert scaler.get_scale() < 2.0**120
    assert torch.isfinite(model.weight).all() and not torch.equal(model.weight, before)


def test_a_scaler_that_keeps_skipping_stops_the_run_after_the_limit() -> None:
    model, optimizer = small_model()
    scaler = torch.amp.GradScaler("cpu")
    guard = NonFiniteGuard(torch.device("cpu"))
    x = torch.randn(4, 8)
    for step in range(MAX_SKIPPED_STEPS - 1):  # one short of the limit: goes on
        scaled_step(model, optimizer, scaler, guard, step, x, poison=True)
    scaled_step(model, optimizer, scaler, guard, 99, x)  # a good step resets the count
    assert int(guard.skipped_in_row) == 0
    for step in range(100, 100 + MAX_SKIPPED_STEPS - 1):
        scaled_step(model, optimizer, scaler, guard, step, x, poison=True)
    with pytest.raises(
        NonFiniteLossError, match=rf"step 124: .* skipped {MAX_SKIPPED_STEPS} steps"
    ):
        scaled_step(model, optimizer, scaler, guard, 124, x, poison=True)


def test_without_a_scaler_non_finite_gradients_and_losses_stop_at_once() -> None:
    model, optimizer = small_model()
    guard = NonFiniteGuard(torch.device("cpu"))
    loss = model(torch.randn(4, 8)).pow(2).mean()
    guard.loss(3, loss, loss * 0, loss)
    loss.backward()
    model.weight.grad[1, 1] = float("inf")
    guard.gradients([p.grad for p in model.parameters()], None)
    with pytest.raises(NonFiniteLossError, match=r"step 3: NaN or Inf in the gradients"):
        guard.check()
    guard = NonFiniteGuard(torch.device("cpu"))
    guard.loss(5, torch.tensor(float("nan")), torch.tensor(1.0), torch.tensor(float("nan")))
    with pytest.raises(NonFiniteLossError, match=r"step 5: the loss is nan \(kl=1, recon"):
        guard.check()


def fp16_fit(
    init_scale: float, gradient_clip: float | None, steps: int = 6
) -> tuple[DFCVAEModule, torch.Tensor]:
    """``DFCVAEModule`` (PVAE, tiny) fitted by Lightning with its 16-mixed plugin on CPU."""
    config = config_from_preset(
        "pvae",
        {
            "model": {"image_size": 32, "channels": 1, "latent_dim": 4, "base_width": 4},
            "train": {"batch_size": 8, "lr": 1e-3, "gradient_clip": gradient_clip},
        },
    ).validate()
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(8 * steps, 1, 4, 4, generator=generator)
    images = F.interpolate(coarse, size=(32, 32), mode="bilinear").clamp(0, 1)
    loader = DataLoader(TensorDataset(images, torch.zeros(len(images))), batch_size=8)
    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=steps,
        plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)],
        gradient_clip_val=gradient_clip,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    torch.manual_seed(0)
    module = DFCVAEModule(config.to_dict())
    initial = weights(module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, train_dataloaders=loader)
    return module, initial


def weights(module: DFCVAEModule) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.vae.parameters()])


@pytest.mark.parametrize("gradient_clip", [None, 1.0])
def test_dfcvae_trains_in_16_mixed_through_early_overflows(gradient_clip: float | None) -> None:
    """2^24 overflows fp16 at once (as 2^16 often does on real data): Lightning's plugin skips
    those steps; the run goes on and ends with finite, trained weights. With --gradient-clip
    the optimizer is the plain Adam (fused Adam unscales inside its step: no clipping)."""
    module, initial = fp16_fit(init_scale=2.0**24, gradient_clip=gradient_clip, steps=24)
    optimizer = module.trainer.optimizers[0]
    assert optimizer.defaults["fused"] is (gradient_clip is None)
    skipped = int(module.guard.skipped_total)
    # Each skip halves the scale: a dozen or so bring 2^24 down to where fp16 gradients fit,
    # and the steps after that update the weights.
    assert 1 <= skipped <= 18, skipped
    assert module.trainer.global_step == 24
    trained = weights(module)
    assert torch.isfinite(trained).all() and not torch.equal(trained, initial)
    assert module.trainer.precision_plugin.scaler.get_scale() < 2.0**24


def test_the_earliest_stop_is_the_one_named() -> None:
    guard = NonFiniteGuard(torch.device("cpu"))
    one = torch.tensor(1.0)
    guard.loss(2, one, one, one)
    guard.gradients([torch.tensor([float("nan")])], None)  # step 2: bad gradients
    guard.loss(3, torch.tensor(float("inf")), one, one)  # step 3: bad loss
    with pytest.raises(NonFiniteLossError, match=r"^step 2: NaN or Inf in the gradients"):
        guard.check()
