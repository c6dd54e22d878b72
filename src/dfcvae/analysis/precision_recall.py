"""Precision and recall for generative models (Kynkäänniemi et al., 2019).

Each set of feature vectors stands for a manifold: the union of balls around its points, each
ball's radius the distance from the point to its k-th nearest neighbour within the set (k = 3 as
in the paper's defaults here). Precision: the fraction of generated points inside the real
manifold ("how realistic"); recall: the fraction of real points inside the generated manifold
("how varied"). Sharp but unrealistic samples score low precision; realistic but narrow ones
score low recall. Computed in the same feature space as the Fréchet distance.
"""

from __future__ import annotations

import numpy as np
import torch

K = 3


def knn_radii(features: torch.Tensor, k: int = K, chunk: int = 1024) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point of the set: (N, D) -> (N,)."""
    if features.shape[0] <= k:
        raise ValueError(f"k-NN radii with k = {k} need more than {k} points")
    radii = []
    for start in range(0, features.shape[0], chunk):
        distances = torch.cdist(features[start : start + chunk], features)
        # the smallest distance is the point to itself (0); the k-th other is at index k
        radii.append(distances.kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def inside_manifold(
    points: torch.Tensor, manifold: torch.Tensor, radii: torch.Tensor, chunk: int = 1024
) -> torch.Tensor:
    """Whether each of ``points`` (M, D) lies within radii[j] of some manifold[j]: (M,) bool."""
    inside = []
    for start in range(0, points.shape[0], chunk):
        distances = torch.cdist(points[start : start + chunk], manifold)
        inside.append((distances <= radii.unsqueeze(0)).any(dim=1))
    return torch.cat(inside)


def precision_recall(
    real: np.ndarray | torch.Tensor, generated: np.ndarray | torch.Tensor, k: int = K
) -> dict[str, float]:
    """Improved precision and recall of ``generated`` (M, D) against ``real`` (N, D) features:
    {"precision": in [0, 1], "recall": in [0, 1], "k": k}."""
    real_t, fake_t = _as_tensor(real), _as_tensor(generated)
    if real_t.shape[1] != fake_t.shape[1]:
        raise ValueError(f"feature sizes differ: {real_t.shape[1]} and {fake_t.shape[1]}")
    precision = inside_manifold(fake_t, real_t, knn_radii(real_t, k)).double().mean()
    recall = inside_manifold(real_t, fake_t, knn_radii(fake_t, k)).double().mean()
    return {"precision": float(precision), "recall": float(recall), "k": k}


def _as_tensor(features: np.ndarray | torch.Tensor) -> torch.Tensor:
    if not isinstance(features, torch.Tensor):
        features = torch.from_numpy(np.asarray(features))
    return features.detach().cpu().double().reshape(features.shape[0], -1)
