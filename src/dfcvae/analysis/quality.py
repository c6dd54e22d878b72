"""Per-image quality measures and the paired t-test that compares two models on the same images.

Sharpness is the variance of the Laplacian (seed 001, after OpenCV's ``cv2.Laplacian(img).var()``):
a sharp image has strong second derivatives at its edges, a blurred one has weak ones, so the
variance drops with blur. It also drops for images with few edges, so compare models on the
same images (paired), never across data sets.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import ttest_rel
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

# The 4-neighbour Laplacian, OpenCV's kernel for ksize=1.
LAPLACIAN_KERNEL = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
LUMA = (0.299, 0.587, 0.114)


def to_gray(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) with C in {1, 3} -> (N, 1, H, W); RGB becomes ITU-R 601 luma."""
    if images.shape[1] == 1:
        return images
    weights = images.new_tensor(LUMA).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def laplacian_variance(images: torch.Tensor) -> torch.Tensor:
    """Sharpness per image: the variance of the Laplacian of its gray levels.

    images: (N, C, H, W) in [0, 1], C in {1, 3}. Returns (N,) float64, >= 0; higher is sharper.
    Borders are reflected (OpenCV's BORDER_REFLECT_101); the variance is the population variance.
    """
    gray = to_gray(images.detach().double())
    padded = F.pad(gray, (1, 1, 1, 1), mode="reflect")
    kernel = LAPLACIAN_KERNEL.to(gray).view(1, 1, 3, 3)
    response = F.conv2d(padded, kernel)
    return response.flatten(1).var(dim=1, unbiased=False).cpu()


def mse_per_image(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image: (N, C, H, W) in [0, 1] twice -> (N,) float64 in [0, 1]."""
    return (recon.double() - target.double()).pow(2).flatten(1).mean(1).cpu()


def psnr_per_image(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image (torchmetrics, data range 1): (N,) float64."""
    value = peak_signal_noise_ratio(
        recon.double(), target.double(), data_range=1.0, reduction="none", dim=(1, 2, 3)
    )
    return value.cpu()


def ssim_per_image(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Structural similarity per image (torchmetrics, Gaussian 11x11, data range 1): (N,) in
    [-1, 1], 1 for identical images."""
    value = structural_similarity_index_measure(
        recon.double(), target.double(), data_range=1.0, reduction="none"
    )
    return value.cpu()


def paired_t_test(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> dict[str, float]:
    """Paired t-test (``scipy.stats.ttest_rel``) of ``a`` against ``b`` measured on the same items.

    a, b: (N,) numbers, item i of both from the same image. Returns ``t``, two-sided ``p``,
    ``mean_difference`` = mean(a - b) (positive when a is larger) and ``n``. t and p are NaN
    when the differences are all equal (no spread to test against).
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"paired t-test needs equal lengths, got {a.shape[0]} and {b.shape[0]}")
    if a.size < 2:
        raise ValueError("paired t-test needs at least 2 pairs")
    difference = a - b
    if np.ptp(difference) == 0:
        t, p = math.nan, math.nan
    else:
        result = ttest_rel(a, b)
        t, p = float(result.statistic), float(result.pvalue)
    return {"t": t, "p": p, "mean_difference": float(difference.mean()), "n": int(a.size)}
