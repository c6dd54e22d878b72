"""Linear SVMs for many labels on the same codes, fast at CelebA's size (162,770 x 100).

The objective is scikit-learn's ``LinearSVC`` default (liblinear's L2-regularised squared hinge,
``intercept_scaling=1``: the bias is a weight on a constant feature, regularised with the rest):

    f(w) = 0.5 * |w|^2 + C * sum_i max(0, 1 - y_i * w . [x_i, 1])^2,   y_i in {-1, +1}.

It is solved by Newton's method on its exact generalised Hessian, H = I + 2C X_A^T X_A over the
active set A (the codes inside the margin), with a backtracking line search (Keerthi and
DeCoste 2005, "A modified finite Newton method for fast solution of large scale linear SVMs").
Three things make a path of C values over many labels cheap:

- X^T X of all codes is computed once and shared by every label;
- each label's C values are solved in increasing order, each from the last one's solution
  (warm start), so a few Newton steps per C suffice;
- X_A^T X_A is carried from step to step and only updated by the codes that enter or leave the
  margin, which are few once the solution is near.

An exact minimiser for the same data and C as ``LinearSVC``: the two agree to liblinear's
tolerance (``tests/test_linear_svm.py`` compares them).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np

MAX_NEWTON_STEPS = 50
GRADIENT_TOLERANCE = 1e-6  # relative to the gradient at w = 0


def with_bias(x: np.ndarray) -> np.ndarray:
    """(N, D) -> (N, D + 1) float64 with a constant 1 column (the bias feature)."""
    return np.hstack([np.asarray(x, dtype=np.float64), np.ones((len(x), 1))])


def _objective(w: np.ndarray, margins: np.ndarray, c: float) -> float:
    slack = np.maximum(0.0, 1.0 - margins)
    return 0.5 * float(w @ w) + c * float(slack @ slack)


def _warn_not_converged(c: float, relative_gradient: float) -> None:
    warnings.warn(
        f"the linear SVM at C={c:g} stopped after {MAX_NEWTON_STEPS} Newton steps before "
        f"converging (gradient {relative_gradient:.1e} of its start, tolerance "
        f"{GRADIENT_TOLERANCE:g}); its accuracy may be slightly off",
        RuntimeWarning,
        stacklevel=3,
    )


def _step_length(
    w: np.ndarray,
    margins: np.ndarray,
    c: float,
    gradient: np.ndarray,
    step: np.ndarray,
    step_margins: np.ndarray,
) -> float:
    """Backtracking (Armijo) along the Newton step; the full step is usually taken."""
    value, slope, t = _objective(w, margins, c), float(gradient @ step), 1.0
    while t > 1e-10:
        if _objective(w + t * step, margins + t * step_margins, c) <= value + 1e-4 * t * slope:
            break
        t *= 0.5
    return t


def squared_hinge_path(
    xb: np.ndarray, y: np.ndarray, cs: Sequence[float], gram: np.ndarray | None = None
) -> list[np.ndarray]:
    """Weights (D + 1,) (bias last) of the squared-hinge SVM for each C in ``cs``.

    xb: (N, D + 1) from ``with_bias``; y: (N,) in {-1, +1}; gram: ``xb.T @ xb`` if already
    computed (it is the same for every label of these codes).
    """
    n, d = xb.shape
    gram = xb.T @ xb if gram is None else gram
    order = np.argsort(cs)
    weights: list[np.ndarray] = [np.empty(0)] * len(cs)
    w = np.zeros(d)
    margins = np.zeros(n)  # y * (xb @ w)
    active = np.ones(n, dtype=bool)  # 1 - margin > 0
    gram_active = gram.copy()
    reference = None
    for index in order:
        c = float(cs[index])
        for steps in itertools.count():  # Newton steps until converged, or the limit
            residual = np.where(active, margins - 1.0, 0.0) * y  # (z_i - y_i) on A, else 0
            gradient = w + 2.0 * c * (xb.T @ residual)
            norm = float(np.linalg.norm(gradient))
            if reference is None:
                reference = max(norm, 1e-12)
            if norm <= GRADIENT_TOLERANCE * reference:
                break
            if steps == MAX_NEWTON_STEPS:
                _warn_not_converged(c, norm / reference)
                break
            hessian = 2.0 * c * gram_active
            hessian[np.diag_indices(d)] += 1.0
            step = -np.linalg.solve(hessian, gradient)
            step_margins = y * (xb @ step)
            t = _step_length(w, margins, c, gradient, step, step_margins)
            w = w + t * step
            margins = margins + t * step_margins
            now_active = margins < 1.0
            entered, left = now_active & ~active, active & ~now_active
            changed = int(entered.sum() + left.sum())
            inside = int(now_active.sum())
            if changed > min(inside, n - inside):  # cheaper to start over from one side
                if inside <= n - inside:
                    rows = xb[now_active]
                    gram_active = rows.T @ rows
                else:
                    rows = xb[~now_active]
                    gram_active = gram - rows.T @ rows
            elif changed:
                plus, minus = xb[entered], xb[left]
                gram_active += plus.T @ plus - minus.T @ minus
            active = now_active
        weights[index] = w.copy()
    return weights


def decision_path(
    train_x: np.ndarray,
    train_y: np.ndarray,
    others: Sequence[np.ndarray],
    cs: Sequence[float],
    gram: np.ndarray | None = None,
) -> list[list[np.ndarray]]:
    """For each C, the predicted class on each array of ``others`` (N, D + 1): one SVM for two
    classes, else one-vs-rest (the class with the largest decision value), as ``LinearSVC``.

    train_x: (N, D + 1) from ``with_bias``; train_y: (N,) labels with two values or more.
    """
    classes = np.unique(train_y)
    gram = train_x.T @ train_x if gram is None else gram
    if len(classes) == 2:  # one SVM, as LinearSVC: positive class = the larger value
        path = squared_hinge_path(train_x, np.where(train_y == classes[1], 1.0, -1.0), cs, gram)
        return [[np.where(x @ w > 0, classes[1], classes[0]) for x in others] for w in path]
    # scores[class][C][split]: the decision values of one-vs-rest SVM `class` at that C.
    scores = [
        [
            [x @ w for x in others]
            for w in squared_hinge_path(train_x, np.where(train_y == k, 1.0, -1.0), cs, gram)
        ]
        for k in classes
    ]
    return [
        [
            classes[np.argmax(np.stack([scores[k][i][s] for k in range(len(classes))]), axis=0)]
            for s in range(len(others))
        ]
        for i in range(len(cs))
    ]
