"""Precision and recall for generative models (k-NN manifolds) against a brute-force count."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dfcvae.analysis.precision_recall import knn_radii, precision_recall


def brute_force(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """Kynkäänniemi et al. (2019), eq. 1-3, one point at a time with math.dist."""

    def radius(points, i):
        others = sorted(math.dist(points[i], points[j]) for j in range(len(points)) if j != i)
        return others[k - 1]

    def covered(point, manifold):
        return any(
            math.dist(point, manifold[j]) <= radius(manifold, j) for j in range(len(manifold))
        )

    precision = sum(covered(f, real) for f in fake) / len(fake)
    recall = sum(covered(r, fake) for r in real) / len(real)
    return precision, recall


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_precision_recall_matches_a_brute_force_count(seed):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(40, 3))
    fake = rng.normal(loc=1.5, scale=0.5, size=(30, 3))  # shifted and narrow
    result = precision_recall(real, fake, k=3)
    expected = brute_force(real.tolist(), fake.tolist(), 3)
    assert (result["precision"], result["recall"]) == pytest.approx(expected, abs=1e-12)
    assert 0 < result["precision"] < 1 and 0 < result["recall"] < 1


def test_narrow_samples_keep_precision_and_lose_recall():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 2))
    narrow = 0.2 * rng.normal(size=(300, 2))  # realistic but narrow
    far = rng.normal(size=(300, 2)) + 6.0  # unrealistic
    narrow_scores = precision_recall(real, narrow)
    assert narrow_scores["precision"] > 0.95 and narrow_scores["recall"] < 0.3
    assert precision_recall(real, far)["precision"] == 0.0
    same = precision_recall(real, real)
    assert same["precision"] == same["recall"] == 1.0


def test_knn_radii_are_the_kth_distance_to_another_point():
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    # k = 1: nearest other point; k = 3: the farthest of the three others
    assert knn_radii(torch.from_numpy(points), 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(torch.from_numpy(points), 3).tolist() == [7.0, 6.0, 4.0, 7.0]
