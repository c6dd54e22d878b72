"""Blur (Laplacian variance), PSNR/SSIM per image and the paired t-test."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dfcvae.analysis import laplacian_variance, paired_t_test
from dfcvae.analysis.quality import mse_per_image, psnr_per_image, ssim_per_image


def checkerboard(size: int = 32, cell: int = 4) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return (((y // cell) + (x // cell)) % 2).float().view(1, 1, size, size)


def box_blur(images: torch.Tensor, k: int = 5) -> torch.Tensor:
    kernel = torch.full((1, 1, k, k), 1.0 / k**2)
    return F.conv2d(F.pad(images, (k // 2,) * 4, mode="reflect"), kernel)


def test_laplacian_variance_of_a_blurred_image_is_below_the_sharp_one():
    sharp = checkerboard()
    blurred = box_blur(sharp)
    assert laplacian_variance(blurred).item() < 0.2 * laplacian_variance(sharp).item()


def test_laplacian_variance_is_zero_for_a_flat_image_and_matches_a_hand_computation():
    flat = torch.full((2, 3, 8, 8), 0.3)
    assert torch.allclose(laplacian_variance(flat), torch.zeros(2, dtype=torch.float64))
    image = torch.rand(1, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    a = np.pad(image[0, 0].double().numpy(), 1, mode="reflect")
    lap = a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:] - 4 * a[1:-1, 1:-1]
    assert laplacian_variance(image).item() == pytest.approx(lap.var(), rel=1e-9)


def test_laplacian_variance_of_rgb_uses_the_luma():
    gray = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    rgb = gray.expand(-1, 3, -1, -1)
    assert torch.allclose(laplacian_variance(rgb), laplacian_variance(gray))


def test_psnr_ssim_and_mse_per_image():
    target = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    noisy = target + 0.1 * torch.randn(4, 1, 32, 32, generator=torch.Generator().manual_seed(3))
    noisy = noisy.clamp(0, 1)
    mse = mse_per_image(noisy, target)
    assert mse.shape == (4,)
    assert torch.allclose(psnr_per_image(noisy, target), 10 * torch.log10(1 / mse), atol=1e-6)
    assert torch.allclose(ssim_per_image(target, target), torch.ones(4, dtype=torch.float64))
    assert (ssim_per_image(noisy, target) < 0.99).all()


def test_paired_t_test_matches_a_hand_computation():
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 1.0, 50)
    b = a - rng.normal(0.3, 0.5, 50)
    d = a - b
    t_by_hand = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
    result = paired_t_test(a, b)
    assert result["t"] == pytest.approx(t_by_hand, rel=1e-10)
    assert result["mean_difference"] == pytest.approx(d.mean())
    assert result["n"] == 50
    assert 0 <= result["p"] < 0.01


def test_paired_t_test_of_identical_differences_is_nan_not_an_error():
    result = paired_t_test([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
    assert math.isnan(result["t"]) and result["mean_difference"] == 1.0
    with pytest.raises(ValueError, match="equal lengths"):
        paired_t_test([1.0, 2.0], [1.0])
