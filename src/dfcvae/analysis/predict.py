"""Attribute prediction from latent codes with linear SVMs (the paper: 86.95% mean on CelebA).

One linear SVM per attribute on mu of the train split (``LinearSVC``'s objective, solved by
``analysis.linear_svm``: exact Newton steps that share X^T X across attributes and warm-start
along C, about 15x faster than liblinear at CelebA's size), its C chosen by accuracy on the
valid split, scored on the test split beside the majority-class baseline (predict the train
split's most common value, ``DummyClassifier``), so a reader can tell learning from class
imbalance.

The C search is what ``GridSearchCV(LinearSVC(), {"C": cs}, cv=PredefinedSplit(...),
refit=False)`` does with train as the fitting fold and valid as the scoring fold (the first of
equal scores wins), but along one warm-started path per label: ``GridSearchCV`` would fit every
C from scratch, without the shared X^T X, which is what makes 40 attributes x 4 values of C on
CelebA's 162,770 codes take under a minute. ``tests/test_linear_svm.py`` checks that both
choose the same C and reach the same accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from dfcvae.analysis.attributes import binary_labels
from dfcvae.analysis.latents import encode_dataset
from dfcvae.analysis.linear_svm import decision_path, with_bias
from dfcvae.analysis.runs import MissingLabelsError, RunLike, open_run
from dfcvae.errors import ConfigError

# The paper's mean test accuracy over CelebA's 40 attributes, shown as a reference.
PAPER_MEAN_ACCURACY = 0.8695
DEFAULT_CS = (0.01, 0.1, 1.0, 10.0)


def majority_baseline(train_y: np.ndarray, test_y: np.ndarray) -> float:
    """Accuracy on ``test_y`` of always predicting the most common value of ``train_y`` (the
    smallest of equally common ones): scikit-learn's ``DummyClassifier("most_frequent")``."""
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    dummy = DummyClassifier(strategy="most_frequent").fit(np.zeros((len(train_y), 1)), train_y)
    return float(np.mean(dummy.predict(np.zeros((len(test_y), 1))) == test_y))


class LinearSVMs:
    """Linear SVMs for any number of labels of the same three splits: the codes are
    standardised (on train) once, and X^T X of the train codes is computed once.

    x: (N, D) features of each split.
    """

    def __init__(self, train_x: np.ndarray, valid_x: np.ndarray, test_x: np.ndarray):
        scaler = StandardScaler().fit(train_x)
        self.train, self.valid, self.test = (
            with_bias(scaler.transform(x)) for x in (train_x, valid_x, test_x)
        )
        self.gram = self.train.T @ self.train

    def accuracy(
        self,
        train_y: np.ndarray,
        valid_y: np.ndarray,
        test_y: np.ndarray,
        cs: Sequence[float] = DEFAULT_CS,
    ) -> dict[str, float | None]:
        """``LinearSVC``'s squared-hinge SVM (one-vs-rest when there are more than two classes),
        C picked on the valid split (the first of equals, in the order of ``cs``).

        y: (N,) labels (binary or class indices). Returns ``accuracy`` on test in [0, 1], the
        chosen ``C``, ``valid_accuracy`` and ``majority_baseline``. A train split with a single
        label value gives the constant prediction, with C = None.
        """
        baseline = majority_baseline(train_y, test_y)
        if np.unique(train_y).size < 2:
            return {
                "accuracy": baseline,
                "C": None,
                "valid_accuracy": None,
                "majority_baseline": baseline,
            }
        # Matrix-vector products of 100-d codes: one BLAS thread does them as fast as several,
        # without the threads' spinning (3-5x the CPU time on a busy 2-core machine).
        with threadpool_limits(limits=1, user_api="blas"):
            predictions = decision_path(self.train, train_y, [self.valid, self.test], cs, self.gram)
        scores = [float(np.mean(valid == valid_y)) for valid, _ in predictions]
        best = int(np.argmax(scores))
        return {
            "accuracy": float(np.mean(predictions[best][1] == test_y)),
            "C": float(cs[best]),
            "valid_accuracy": scores[best],
            "majority_baseline": baseline,
        }


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
    """``LinearSVMs(train_x, valid_x, test_x).accuracy(train_y, valid_y, test_y, cs)`` for one
    label. ``seed`` is kept for callers of the earlier liblinear version: the solver is exact
    and deterministic."""
    if np.unique(train_y).size < 2:
        baseline = majority_baseline(train_y, test_y)
        return {
            "accuracy": baseline,
            "C": None,
            "valid_accuracy": None,
            "majority_baseline": baseline,
        }
    return LinearSVMs(train_x, valid_x, test_x).accuracy(train_y, valid_y, test_y, cs)


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


def prediction_rows(result: AttributePrediction) -> list[dict[str, Any]]:
    """The rows of the predictions table: one per attribute (``kind`` "attribute"), then the
    mean, the multi-class result and the paper's reference, each with ``kind``, ``attribute``,
    ``accuracy`` and, where it has one, ``majority_baseline``, ``C`` and ``valid_accuracy``."""
    rows: list[dict[str, Any]] = [{"kind": "attribute", **row} for row in result.rows]
    rows.append(
        {
            "kind": "mean",
            "attribute": "mean",
            "accuracy": result.mean_accuracy,
            "majority_baseline": result.mean_majority_baseline,
        }
    )
    if result.multiclass is not None:
        rows.append(
            {"kind": "multiclass", "attribute": "multi-class (one-vs-rest)", **result.multiclass}
        )
    rows.append(
        {
            "kind": "reference",
            "attribute": "paper mean (CelebA, 40 attributes)",
            "accuracy": result.reference_mean,
        }
    )
    return rows


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
    svms = LinearSVMs(train_x, valid_x, test_x)
    rows = []
    for column, name in enumerate(tqdm(names, desc="linear SVMs", disable=not progress)):
        result = svms.accuracy(train_pos[:, column], valid_pos[:, column], test_pos[:, column], cs)
        rows.append({"attribute": name, **result})
    multiclass = None
    if train_set.label_kind == "class":
        multiclass = svms.accuracy(
            np.asarray(train_set.labels),
            np.asarray(valid_set.labels),
            np.asarray(test_set.labels),
            cs,
        )
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
