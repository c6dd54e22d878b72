"""Comparing runs: that they were trained on the same data, summaries of per-image values, and
the t-tests between runs and against the original images, with Holm's correction for testing
them all at once."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from scipy.stats import ttest_ind

from dfcvae.analysis.quality import paired_t_test
from dfcvae.analysis.runs import Run
from dfcvae.errors import ConfigError


def check_same_data(runs: Sequence[Run], names: Sequence[str]) -> None:
    """Runs are compared on the same images: same data set, crop, size and channels."""

    def key(run: Run) -> tuple:
        d, m = run.config.data, run.config.model
        return (d.dataset, d.root, d.crop, d.labels_file, m.image_size, m.channels)

    first = key(runs[0])
    for run, name in zip(runs[1:], names[1:], strict=True):
        if key(run) != first:
            raise ConfigError(
                f"{name} was trained on other data ({key(run)[0]}, {key(run)[4]}px, "
                f"{key(run)[5]} channels) than {names[0]} ({first[0]}, {first[4]}px, "
                f"{first[5]} channels): evaluate compares runs on the same test images"
            )


def summary(values: torch.Tensor | np.ndarray | Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()), "std": float(array.std(ddof=1)) if array.size > 1 else 0.0}


def welch_t_test(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Unpaired (Welch) t-test, for samples, which share no images between runs."""
    result = ttest_ind(a, b, equal_var=False)
    return {
        "t": float(result.statistic),
        "p": float(result.pvalue),
        "mean_difference": float(np.mean(a) - np.mean(b)),
        "n": int(min(len(a), len(b))),
    }


def holm_adjust(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p values (Holm 1979, step-down) of one family of tests.

    Sorted ascending, the k-th smallest of the m finite p values becomes
    max_{j <= k} min(1, (m - j + 1) * p_(j)); a hypothesis is rejected at level alpha, with the
    family-wise error rate at most alpha, when its adjusted p is below alpha. None and NaN (a
    test that could not be run) stay None and do not count in m.
    """
    finite = [(p, i) for i, p in enumerate(p_values) if p is not None and not math.isnan(p)]
    m = len(finite)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(sorted(finite)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted


def t_tests(
    names: Sequence[str],
    per_image: Mapping[str, Mapping[str, Sequence[float]]],
    paired: Sequence[str],
    welch: Sequence[str] = ("sharpness_samples",),
) -> list[dict[str, float | str]]:
    """Between each two runs: a paired test per metric of ``paired`` that both have, and a
    Welch test per metric of ``welch`` that both have (samples' sharpness, which share no
    images between runs); then each run's reconstructions against the
    originals' sharpness (paired). per_image: run name (and ``originals``) -> metric -> values.
    Each test: ``metric``, ``a``, ``b``, ``test`` (paired or welch), t, p, ``p_holm`` (p adjusted
    by ``holm_adjust`` over every test of the list: the family the report shows),
    mean_difference, n."""
    tests: list[dict[str, float | str]] = []
    for a, b in itertools.combinations(names, 2):
        for metric in paired:
            if metric in per_image[a] and metric in per_image[b]:
                test = paired_t_test(per_image[a][metric], per_image[b][metric])
                tests.append({"metric": metric, "a": a, "b": b, "test": "paired", **test})
        for metric in welch:
            if metric in per_image[a] and metric in per_image[b]:
                values_a, values_b = per_image[a][metric], per_image[b][metric]
                test = welch_t_test(np.asarray(values_a), np.asarray(values_b))
                tests.append({"metric": metric, "a": a, "b": b, "test": "welch", **test})
    originals = per_image["originals"]["sharpness"]
    for name in names:
        test = paired_t_test(per_image[name]["sharpness_reconstructions"], originals)
        tests.append(
            {
                "metric": "sharpness_reconstructions",
                "a": name,
                "b": "originals",
                "test": "paired",
                **test,
            }
        )
    for test, adjusted in zip(tests, holm_adjust([test["p"] for test in tests]), strict=True):
        test["p_holm"] = adjusted
    return tests
