"""Attribute prediction from latent codes with linear SVMs (the paper: 86.95% mean on CelebA).

One ``LinearSVC`` per attribute on mu of the train split, its C chosen by accuracy on the valid
split, scored on the test split beside the majority-class baseline (predict the train split's
most common value), so a reader can tell learning from class imbalance.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from tqdm.auto import tqdm

from dfcvae.analysis.attributes import binary_labels
from dfcvae.analysis.latents import encode_dataset
from dfcvae.analysis.runs import MissingLabelsError, RunLike, open_run
from dfcvae.errors import ConfigError

# The paper's mean test accuracy over CelebA's 40 attributes, shown as a reference.
PAPER_MEAN_ACCURACY = 0.8695
DEFAULT_CS = (0.01, 0.1, 1.0, 10.0)


def majority_baseline(train_y: np.ndarray, test_y: np.ndarray) -> float:
    """Accuracy on ``test_y`` of always predicting the most common value of ``train_y``."""
    values, counts = np.unique(train_y, return_counts=True)
    return float(np.mean(test_y == values[np.argmax(counts)]))


def linear_svm_accuracy(
    train_x: np.ndarray,
    train_y: np.ndarray,
    valid_x: np.ndarray,
    valid_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    *,
    cs: Sequence[float] = DEFAULT_CS,
    seed: int = 0,
) -> dict[str, float | None]:
    """A standardised ``LinearSVC`` (one-vs-rest when there are more than two classes), C picked
    on the valid split.

    x: (N, D) features; y: (N,) labels (binary or class indices). Returns ``accuracy`` on test in
    [0, 1], the chosen ``C``, ``valid_accuracy`` and ``majority_baseline``. A train split with a
    single label value gives the constant prediction, with C = None.
    """
    baseline = majority_baseline(train_y, test_y)
    if np.unique(train_y).size < 2:
        return {"accuracy": baseline, "C": None, "valid_accuracy": None,
                "majority_baseline": baseline}  # fmt: skip
    scaler = StandardScaler().fit(train_x)
    train_x, valid_x, test_x = (scaler.transform(x) for x in (train_x, valid_x, test_x))
    best: tuple[float, float, LinearSVC] | None = None
    for c in cs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            svm = LinearSVC(C=c, max_iter=5000, random_state=seed).fit(train_x, train_y)
        score = float(svm.score(valid_x, valid_y))
        if best is None or score > best[0]:
            best = (score, c, svm)
    assert best is not None
    valid_accuracy, c, svm = best
    return {
        "accuracy": float(svm.score(test_x, test_y)),
        "C": float(c),
        "valid_accuracy": valid_accuracy,
        "majority_baseline": baseline,
    }


@dataclass
class AttributePrediction:
    """Test accuracies of linear SVMs on latent codes.

    rows: one dict per attribute (``attribute``, ``accuracy``, ``majority_baseline``, ``C``,
    ``valid_accuracy``); multiclass: for class-labelled sets, the one-vs-rest multi-class
    accuracy and its majority baseline; reference_mean: the paper's mean on CelebA (a reference
    point, comparable only on CelebA).
    """

    dataset: str
    rows: list[dict[str, float | str | None]]
    multiclass: dict[str, float | None] | None = None
    reference_mean: float = PAPER_MEAN_ACCURACY
    n_train: int = 0
    n_test: int = 0

    @property
    def mean_accuracy(self) -> float:
        return float(np.mean([row["accuracy"] for row in self.rows]))

    @property
    def mean_majority_baseline(self) -> float:
        return float(np.mean([row["majority_baseline"] for row in self.rows]))


def predict_attributes(
    run: RunLike,
    *,
    cs: Sequence[float] = DEFAULT_CS,
    limit: int | None = None,
    device: str = "cpu",
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = True,
) -> AttributePrediction:
    """Linear SVMs on mu per attribute (train -> C on valid -> accuracy on test).

    Class-labelled sets get one binary SVM per class (one-vs-rest attributes) plus a multi-class
    one-vs-rest LinearSVC. limit: the first ``limit`` images of each split (default the run's).
    """
    if not cs:
        raise ConfigError("--cs: give at least one value of C")
    run = open_run(run, device)
    splits = {}
    for split in ("train", "valid", "test"):
        dataset = run.dataset(split, limit=limit, progress=progress)
        if dataset.labels is None or dataset.label_kind is None:
            raise MissingLabelsError(
                f"predict-attributes needs labels, and the {dataset.name} {split} split has none "
                "(for a folder data set, train with --labels-file)"
            )
        if len(dataset) == 0:
            raise ConfigError(f"the {split} split of {dataset.name} is empty")
        mu = encode_dataset(run.model, dataset, batch_size, progress, desc=f"encoding {split}")
        splits[split] = (mu.numpy().astype(np.float64), dataset)
    (train_x, train_set), (valid_x, valid_set), (test_x, test_set) = splits.values()
    train_pos, names = binary_labels(train_set)
    valid_pos, _ = binary_labels(valid_set)
    test_pos, _ = binary_labels(test_set)
    width = len(names)
    valid_pos, test_pos = _pad_columns(valid_pos, width), _pad_columns(test_pos, width)
    rows = []
    for column, name in enumerate(tqdm(names, desc="linear SVMs", disable=not progress)):
        result = linear_svm_accuracy(
            train_x, train_pos[:, column], valid_x, valid_pos[:, column],
            test_x, test_pos[:, column], cs=cs, seed=seed,
        )  # fmt: skip
        rows.append({"attribute": name, **result})
    multiclass = None
    if train_set.label_kind == "class":
        multiclass = linear_svm_accuracy(
            train_x, np.asarray(train_set.labels), valid_x, np.asarray(valid_set.labels),
            test_x, np.asarray(test_set.labels), cs=cs, seed=seed,
        )  # fmt: skip
    return AttributePrediction(
        dataset=run.config.data.dataset,
        rows=rows,
        multiclass=multiclass,
        n_train=len(train_set),
        n_test=len(test_set),
    )


def _pad_columns(positives: np.ndarray, width: int) -> np.ndarray:
    """A class split may lack the highest classes: pad its one-vs-rest columns with False."""
    if positives.shape[1] >= width:
        return positives[:, :width]
    pad = np.zeros((positives.shape[0], width - positives.shape[1]), dtype=bool)
    return np.concatenate([positives, pad], axis=1)
