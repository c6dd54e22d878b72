"""``analysis.linear_svm`` minimises LinearSVC's objective: same weights, same predictions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from dfcvae.analysis.linear_svm import decision_path, squared_hinge_path, with_bias


def codes(n: int = 2000, d: int = 12, classes: int = 2, seed: int = 0):
    """Gaussian codes with labels from noisy linear scores: overlapping classes."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, d)
    scores = x @ rng.standard_normal((d, classes)) + 1.5 * rng.standard_normal((n, classes))
    y = scores.argmax(1) if classes > 2 else scores[:, 0] > 0.3
    return x, y


@pytest.mark.parametrize("c", [0.01, 1.0, 10.0])
def test_the_path_has_liblinears_weights_at_every_c(c: float) -> None:
    x, y = codes()
    signs = np.where(y, 1.0, -1.0)
    ours = squared_hinge_path(with_bias(x), signs, [0.001, c, 100.0])[1]
    svc = LinearSVC(C=c, dual=False, tol=1e-10, max_iter=100_000).fit(x, y)
    theirs = np.r_[svc.coef_[0], svc.intercept_]
    assert np.allclose(ours, theirs, rtol=1e-4, atol=1e-6), np.abs(ours - theirs).max()


def test_predictions_match_linearsvc_for_two_and_for_many_classes() -> None:
    for classes in (2, 4):
        x, y = codes(classes=classes, seed=classes)
        test_x, _ = codes(classes=classes, seed=10 + classes)
        (predicted,) = decision_path(with_bias(x), y, [with_bias(test_x)], [0.5])[0:1]
        svc = LinearSVC(C=0.5, dual=False, tol=1e-10, max_iter=100_000).fit(x, y)
        agree = np.mean(predicted[0] == svc.predict(test_x))
        assert agree >= 0.999, (classes, agree)
        assert len(np.unique(predicted[0])) == classes


def test_the_c_search_agrees_with_gridsearchcv_on_a_predefined_split() -> None:
    from sklearn.model_selection import GridSearchCV, PredefinedSplit
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from dfcvae.analysis.predict import LinearSVMs

    cs = [0.001, 0.01, 0.1, 1.0]
    x, y = codes(n=3000, seed=7)
    train, valid, test = slice(0, 1500), slice(1500, 2250), slice(2250, None)
    ours = LinearSVMs(x[train], x[valid], x[test]).accuracy(y[train], y[valid], y[test], cs)

    svc = make_pipeline(StandardScaler(), LinearSVC(dual=False, tol=1e-10, max_iter=100_000))
    folds = PredefinedSplit(np.r_[np.full(1500, -1), np.zeros(750)])  # fit on train, score valid
    search = GridSearchCV(svc, {"linearsvc__C": cs}, cv=folds, refit=False)
    search.fit(x[:2250], y[:2250])
    best = search.best_params_["linearsvc__C"]
    assert ours["C"] == best
    assert ours["valid_accuracy"] == pytest.approx(search.best_score_, abs=1e-3)
    theirs = svc.set_params(linearsvc__C=best).fit(x[train], y[train]).score(x[test], y[test])
    assert ours["accuracy"] == pytest.approx(theirs, abs=1e-3)
