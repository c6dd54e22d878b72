"""The Fréchet distance between two sets of feature vectors, each summarised as a Gaussian.

d^2 = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2)

With Inception-v3 pool features this is FID; with any other feature space it is a Fréchet
distance *in that space* and must be named so (see ``feature_spaces.py``). The matrix square
roots are taken by symmetric eigendecomposition, which stays real and finite even when there
are fewer samples than feature dimensions (singular covariances).
"""

from __future__ import annotations

import numpy as np
import torch


def gaussian_statistics(features: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """features: (N, D) -> mean (D,) and covariance (D, D) (unbiased, float64). N >= 2."""
    x = np.asarray(features.detach().cpu() if isinstance(features, torch.Tensor) else features)
    x = x.astype(np.float64).reshape(x.shape[0], -1)
    if x.shape[0] < 2:
        raise ValueError(f"a Fréchet distance needs at least 2 feature vectors, got {x.shape[0]}")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (negative rounding noise -> 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance_from_statistics(
    mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray, cov_b: np.ndarray
) -> float:
    """Squared Fréchet distance between N(mu_a, cov_a) and N(mu_b, cov_b); >= 0."""
    root_a = _sqrt_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    distance = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt
    return float(max(distance, 0.0))


def frechet_distance(
    features_a: np.ndarray | torch.Tensor, features_b: np.ndarray | torch.Tensor
) -> float:
    """Squared Fréchet distance between two feature sets (N_a, D) and (N_b, D); 0 when equal."""
    return frechet_distance_from_statistics(
        *gaussian_statistics(features_a), *gaussian_statistics(features_b)
    )
