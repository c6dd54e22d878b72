"""Every loss term is computed in fp32 whatever the autocast around it.

Each term runs on the same fp32 inputs once plainly and once under CPU bf16 autocast (what
``--precision bf16-mixed`` wraps the training step in); the two must agree to fp32 rounding.
The unguarded SSIM under autocast is shown to differ, so the comparison can tell.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from dfcvae import config_from_preset
from dfcvae.vae.losses import (
    DFCVAELoss,
    feature_loss,
    kl_divergence,
    pixel_loss,
    ssim_colour_loss,
)
from dfcvae.vae.model import VAEOutput

FP32_RTOL = 1e-5


def bf16():
    return torch.autocast("cpu", dtype=torch.bfloat16)


def image_pair(n: int = 4, channels: int = 3, size: int = 32) -> tuple[torch.Tensor, ...]:
    """A smooth image batch in [0, 1] and a noisy reconstruction of it (with its logits)."""
    generator = torch.Generator().manual_seed(3)
    coarse = torch.rand(n, channels, 4, 4, generator=generator)
    x = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
    noise = 0.1 * torch.randn(x.shape, generator=generator)
    recon = (x + noise).clamp(0.01, 0.99)
    return x, recon, torch.logit(recon)


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype == torch.float32 and torch.allclose(a, b, rtol=FP32_RTOL, atol=0)


def test_ssim_colour_under_bf16_autocast_equals_fp32() -> None:
    x, recon, _ = image_pair()
    exact = ssim_colour_loss(recon, x)
    with bf16():
        guarded = ssim_colour_loss(recon, x)
        unguarded = ssim_colour_loss.__wrapped__(recon, x)
    assert same(guarded, exact), (guarded, exact)
    # Without the guard torchmetrics' convolutions run in bf16: a visible error in 1 - SSIM.
    assert abs(unguarded.float() - exact) / exact > 1e-3, (unguarded, exact)


def test_colour_term_alone_under_bf16_autocast_equals_fp32() -> None:
    x, recon, _ = image_pair()
    no_ssim = ssim_colour_loss(recon, x, colour_weight=1.0) - ssim_colour_loss(
        recon, x, colour_weight=0.0
    )
    with bf16():
        colour = ssim_colour_loss(recon, x, colour_weight=1.0) - ssim_colour_loss(
            recon, x, colour_weight=0.0
        )
    assert no_ssim > 0 and same(colour, no_ssim), (colour, no_ssim)


def test_feature_mse_under_bf16_autocast_equals_fp32_also_from_bf16_features() -> None:
    generator = torch.Generator().manual_seed(5)
    target = [torch.rand(2, c, s, s, generator=generator) for c, s in ((8, 16), (16, 8))]
    recon = [t + 0.01 * torch.randn(t.shape, generator=generator) for t in target]
    exact = feature_loss(target, recon, [1.0, 0.5])
    with bf16():
        assert same(feature_loss(target, recon, [1.0, 0.5]), exact)
    # Features that come out of a bf16 loss network: the MSE is still taken in fp32, on the
    # bf16 values, not in bf16 (whose differences of nearby values would round to zero).
    halves = [t.bfloat16() for t in target], [r.bfloat16() for r in recon]
    on_bf16 = feature_loss(*halves, [1.0, 0.5])
    rounded = feature_loss(*([t.float() for t in h] for h in halves), [1.0, 0.5])
    assert same(on_bf16, rounded)


@pytest.mark.parametrize("kind", ["sse", "bce"])
def test_pixel_and_kl_under_bf16_autocast_equal_fp32(kind: str) -> None:
    x, _, logits = image_pair()
    generator = torch.Generator().manual_seed(11)
    mu, logvar = torch.randn(4, 100, generator=generator), torch.randn(4, 100, generator=generator)
    exact_pixel, exact_kl = pixel_loss(logits, x, kind), kl_divergence(mu, logvar)
    with bf16():
        assert same(pixel_loss(logits, x, kind), exact_pixel)
        assert same(kl_divergence(mu, logvar), exact_kl)
        assert same(kl_divergence(mu.bfloat16(), logvar.bfloat16()), kl_divergence(
            mu.bfloat16().float(), logvar.bfloat16().float()))  # fmt: skip


@pytest.mark.parametrize("preset", ["pvae", "pvae-bce", "ssim-colour", "vae-123", "vae-mix"])
def test_every_preset_objective_under_bf16_autocast_keeps_its_terms_in_fp32(preset: str) -> None:
    """The whole ``DFCVAELoss`` on fixed reconstructions: the loss network may run in bf16,
    so feature terms are compared against the fp32 MSE of those same bf16 features."""
    overrides = {"loss": {"loss_weights": "random"}} if preset.startswith("vae") else {}
    config = config_from_preset(preset, overrides).validate()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random loss-network weights
        torch.manual_seed(0)
        criterion = DFCVAELoss(config.loss)
    x, recon, logits = image_pair(n=2)
    generator = torch.Generator().manual_seed(2)
    mu, logvar = torch.randn(2, 16, generator=generator), torch.randn(2, 16, generator=generator)
    out = VAEOutput(recon=recon, recon_logits=logits, mu=mu, logvar=logvar, z=mu)
    exact = criterion(x, out)
    with bf16():
        mixed = criterion(x, out)
    for name in ("total", "kl", "reconstruction"):
        value = getattr(mixed, name)
        assert value.dtype == torch.float32, name
    assert same(mixed.kl, exact.kl)
    if not config.loss.uses_loss_network:
        assert same(mixed.total, exact.total) and same(mixed.reconstruction, exact.reconstruction)
        return
    if "pixel" in exact.parts:
        assert same(mixed.parts["pixel"], exact.parts["pixel"])
    # The loss network itself runs in bf16 under autocast: recompute the feature MSE in fp32
    # from its bf16 features and compare.
    network = criterion.loss_network
    with bf16(), torch.no_grad():
        target, reconstructed = network(x), network(recon)
    assert target[0].dtype == torch.bfloat16
    weights = config.loss.layer_weights or None
    expected = feature_loss([t.float() for t in target], [r.float() for r in reconstructed],
                            weights, criterion.feature_scale)  # fmt: skip
    feature = mixed.parts.get("feature", mixed.reconstruction)
    assert same(feature, expected), (feature, expected)


def test_feature_loss_is_the_same_on_channels_last_maps() -> None:
    """feature_loss reads channels-last maps as (N, H, W, C) views (its fast path): only valid
    while its value does not depend on the layout within an image; this checks that it does not."""
    generator = torch.Generator().manual_seed(9)
    target = [torch.rand(2, c, s, s, generator=generator) for c, s in ((8, 16), (16, 8))]
    recon = [(t + torch.randn(t.shape, generator=generator)).requires_grad_() for t in target]
    plain = feature_loss(target, recon, [1.0, 0.5])
    plain.backward()
    grads = [r.grad.clone() for r in recon]
    last = [t.contiguous(memory_format=torch.channels_last) for t in target]
    recon_last = [r.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
                  for r in recon]  # fmt: skip
    fast = feature_loss(last, recon_last, [1.0, 0.5])
    fast.backward()
    assert torch.allclose(fast, plain, rtol=1e-6)
    for r, g in zip(recon_last, grads):
        assert torch.allclose(r.grad, g, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("layouts", [("plain", "plain"), ("last", "last"), ("last", "plain")])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_feature_loss_matches_mse_loss_on_fp32_copies_value_and_gradient(layouts, dtype) -> None:
    """SquaredErrorMean (feature_loss's fused fp32 MSE, read piece by piece) against
    F.mse_loss on fp32 copies: the same value and the same gradient for the reconstruction's
    maps, in their own dtype and layout, over several pieces; none for the target's maps."""
    from dfcvae.vae.fast_paths import CPU_PIECE

    generator = torch.Generator().manual_seed(11)
    shape = (3, 16, 80, 80)  # 307,200 elements: more than one piece, the last one partial
    assert 1 < torch.Size(shape).numel() / CPU_PIECE < 2
    target = torch.rand(shape, generator=generator).to(dtype)
    recon = (target.float() + torch.randn(shape, generator=generator)).to(dtype)
    if layouts[0] == "last":
        recon = recon.contiguous(memory_format=torch.channels_last)
    if layouts[1] == "last":
        target = target.contiguous(memory_format=torch.channels_last)
    recon.requires_grad_()
    target.requires_grad_()
    fused = feature_loss([target], [recon], [0.5], scale=3.0)
    fused.backward()
    reference_recon = recon.detach().float().requires_grad_()
    reference = 0.5 * 9.0 * F.mse_loss(reference_recon, target.detach().float())
    reference.backward()
    assert fused.dtype == torch.float32
    assert torch.allclose(fused, reference, rtol=1e-5), (fused, reference)
    assert recon.grad.dtype == dtype and recon.grad.stride() == recon.stride()
    tolerance = 1e-6 if dtype == torch.float32 else 1e-2
    assert torch.allclose(recon.grad.float(), reference_recon.grad, rtol=tolerance, atol=1e-9)
    assert target.grad is None
