"""Attribute vectors, their correlation and linear SVMs on synthetic latents with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dfcvae.analysis import (
    attribute_correlation,
    attribute_vectors_from_latents,
    linear_svm_accuracy,
)


def test_attribute_vectors_recover_the_planted_directions():
    g = torch.Generator().manual_seed(0)
    n, d = 4000, 6
    positives = torch.rand(n, 2, generator=g) < torch.tensor([0.5, 0.2])
    smile = torch.tensor([3.0, 0, 0, 0, 0, 0])
    glasses = torch.tensor([0, 0, -2.0, 1.0, 0, 0])
    mu = torch.randn(n, d, generator=g) * 0.1
    mu += positives[:, :1] * smile + positives[:, 1:] * glasses
    vectors = attribute_vectors_from_latents(mu, positives.numpy(), ["Smiling", "Eyeglasses"])
    assert list(vectors) == ["Smiling", "Eyeglasses"]
    assert vectors["Smiling"].shape == (d,)
    assert torch.allclose(vectors["Smiling"], smile, atol=0.02)
    assert torch.allclose(vectors["Eyeglasses"], glasses, atol=0.02)


def test_exact_mean_difference_on_a_tiny_example():
    mu = torch.tensor([[1.0, 0.0], [3.0, 2.0], [0.0, 0.0], [0.0, 4.0]])
    positives = np.array([[True], [True], [False], [False]])
    vectors = attribute_vectors_from_latents(mu, positives, ["a"])
    assert vectors["a"].tolist() == [2.0, -1.0]  # (2, 1) - (0, 2)


def test_an_attribute_all_images_share_has_no_vector_and_a_warning():
    mu = torch.randn(5, 3)
    positives = np.array([[True, True], [True, False], [True, True], [True, False], [True, False]])
    with pytest.warns(UserWarning, match="no attribute vector for always"):
        vectors = attribute_vectors_from_latents(mu, positives, ["always", "sometimes"])
    assert list(vectors) == ["sometimes"]


def test_attribute_correlation_is_the_cosine_similarity_matrix():
    t = torch.tensor
    vectors = {"a": t([1.0, 0.0]), "b": t([1.0, 1.0]), "c": t([-2.0, 0.0])}
    names, matrix = attribute_correlation(vectors)
    assert names == ["a", "b", "c"]
    assert matrix.shape == (3, 3)
    assert np.allclose(np.diag(matrix), 1.0)
    assert matrix[0, 1] == pytest.approx(1 / np.sqrt(2))
    assert matrix[0, 2] == pytest.approx(-1.0)
    assert np.allclose(matrix, matrix.T)


def separable(n: int, seed: int, imbalance: float = 0.7):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) > imbalance).astype(np.int64)  # 30% positives: the majority says 0
    x = rng.normal(size=(n, 5))
    x[:, 0] += 3.0 * (2 * y - 1)
    return x, y


def test_linear_svm_beats_the_majority_baseline_on_separable_latents():
    train, valid, test = separable(400, 0), separable(200, 1), separable(200, 2)
    result = linear_svm_accuracy(*train, *valid, *test, cs=(0.1, 1.0), seed=0)
    assert result["majority_baseline"] == pytest.approx(np.mean(test[1] == 0))
    assert result["accuracy"] > 0.97 > result["majority_baseline"] + 0.2
    assert result["C"] in (0.1, 1.0)


def test_linear_svm_multiclass_and_a_constant_attribute():
    rng = np.random.default_rng(3)
    centres = np.eye(3) * 4

    def split(n):
        y = rng.integers(0, 3, n)
        return centres[y] + rng.normal(size=(n, 3)), y

    result = linear_svm_accuracy(*split(300), *split(100), *split(100), seed=0)
    assert result["accuracy"] > 0.95
    constant = linear_svm_accuracy(
        np.zeros((10, 2)), np.zeros(10), np.zeros((4, 2)), np.zeros(4), np.zeros((5, 2)),
        np.array([0, 0, 0, 0, 1]),
    )  # fmt: skip
    assert constant["C"] is None and constant["accuracy"] == constant["majority_baseline"] == 0.8
