"""Holm's step-down correction against an independent brute force: the closed testing procedure
with Bonferroni tests of every intersection, which Holm's method is a shortcut of."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from dfcvae.analysis.comparison import holm_adjust, t_tests


def closed_testing_adjusted(p_values: list[float]) -> list[float]:
    """p_i adjusted = the largest, over every set S of hypotheses holding i, of the Bonferroni
    p of S's intersection, min(1, |S| * min_{j in S} p_j): the smallest level at which every
    intersection that holds H_i is rejected (Marcus, Peritz and Gabriel, 1976)."""
    m = len(p_values)
    adjusted = []
    for i in range(m):
        others = [j for j in range(m) if j != i]
        worst = 0.0
        for size in range(m):
            for subset in itertools.combinations(others, size):
                members = (i, *subset)
                worst = max(worst, min(1.0, len(members) * min(p_values[j] for j in members)))
        adjusted.append(worst)
    return adjusted


@pytest.mark.parametrize("seed", range(20))
def test_holm_equals_closed_testing_with_bonferroni(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 8))
    p = list(rng.uniform(0, 1, m) ** rng.uniform(1, 6))  # many small p values, some ties below
    if m > 2:
        p[1] = p[0]  # a tie
    assert holm_adjust(p) == pytest.approx(closed_testing_adjusted(p), abs=1e-12)


def test_holm_by_hand_and_with_missing_tests():
    # Sorted 0.01, 0.02, 0.03, 0.5 of m = 4: 4 * 0.01, max(0.04, 3 * 0.02), max(., 2 * 0.03), 0.5
    assert holm_adjust([0.03, None, 0.5, 0.01, math.nan, 0.02]) == pytest.approx(
        [0.06, None, 0.5, 0.04, None, 0.06]
    )
    assert holm_adjust([0.045, 0.01, 0.04]) == pytest.approx([0.08, 0.03, 0.08])  # monotone
    assert holm_adjust([0.6, 0.7]) == [1.0, 1.0]  # capped at 1
    assert holm_adjust([]) == []


def test_every_t_test_carries_its_holm_adjusted_p_over_the_whole_list():
    rng = np.random.default_rng(0)
    per_image = {
        name: {
            "mse": rng.normal(shift, 1, 30).tolist(),
            "sharpness_reconstructions": rng.normal(shift, 1, 30).tolist(),
            "sharpness_samples": rng.normal(0, 1, 30).tolist(),
        }
        for name, shift in (("a", 0.0), ("b", 0.5), ("c", 1.0))
    }
    per_image["originals"] = {"sharpness": rng.normal(2, 1, 30).tolist()}
    tests = t_tests(["a", "b", "c"], per_image, ("mse", "sharpness_reconstructions"))
    assert len(tests) == 3 * 3 + 3  # three pairs of three tests, three against the originals
    expected = closed_testing_adjusted([test["p"] for test in tests])
    assert [test["p_holm"] for test in tests] == pytest.approx(expected, abs=1e-12)
    assert all(test["p_holm"] >= test["p"] for test in tests)
