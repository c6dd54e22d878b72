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
    x = _as_matrix(features)
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
    """Squared Fréchet distance between two feature sets (N_a, D) and (N_b, D); 0 when equal.

    With fewer samples than dimensions (the usual case for 1280-d features), the trace term is
    the nuclear norm of X_a X_b^T, where X = centred features / sqrt(N - 1): the eigenvalues of
    S_a^1/2 S_b S_a^1/2 are the squared singular values of that (N_a, N_b) matrix. Same value,
    without any D x D eigendecomposition.
    """
    a, b = _as_matrix(features_a), _as_matrix(features_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} and {b.shape[1]}")
    if min(a.shape[0], b.shape[0]) >= a.shape[1]:
        return frechet_distance_from_statistics(*gaussian_statistics(a), *gaussian_statistics(b))
    if min(a.shape[0], b.shape[0]) < 2:
        raise ValueError("a Fréchet distance needs at least 2 feature vectors per set")
    xa = (a - a.mean(0)) / np.sqrt(a.shape[0] - 1)
    xb = (b - b.mean(0)) / np.sqrt(b.shape[0] - 1)
    trace_sqrt = np.linalg.svd(xa @ xb.T, compute_uv=False).sum()
    mean_term = np.sum((a.mean(0) - b.mean(0)) ** 2)
    distance = mean_term + np.sum(xa**2) + np.sum(xb**2) - 2 * trace_sqrt
    return float(max(distance, 0.0))


def _as_matrix(features: np.ndarray | torch.Tensor) -> np.ndarray:
    x = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else features
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(x.shape[0], -1)
