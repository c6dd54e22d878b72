"""The report's findings and highlighted best cells on two synthetic runs with a known winner."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from dfcvae.analysis.evaluate import METRICS
from dfcvae.report.findings import findings
from dfcvae.report.markup import ReportData, best_indices, cells
from dfcvae.report.sections import glance_section, metrics_section
from dfcvae.vae.run_config import RunConfig


def t_test(
    metric: str, difference: float, p: float, a="good", b="poor", test="paired", p_holm=None
) -> dict:
    """One t-test; its Holm-adjusted p is ``p_holm``, by default p itself (a family of one)."""
    t = 5.4321 if difference > 0 else -5.4321
    return {
        "metric": metric,
        "a": a,
        "b": b,
        "test": test,
        "t": t,
        "p": p,
        "p_holm": p if p_holm is None else p_holm,
        "mean_difference": difference,
        "n": 20,
    }


def two_runs(t_tests: list[dict]) -> ReportData:
    """ "good" has the lower MSE and the higher PSNR and sharpness; "poor" the higher MSE."""
    runs = {
        "good": {"mse": {"mean": 0.010, "std": 0.001}, "psnr": {"mean": 20.0, "std": 1.0},
                 "sharpness_samples": {"mean": 0.30, "std": 0.1},
                 "frechet": {"mobilenet_v2": {"samples": 4.0, "reconstructions": 2.0}}},
        "poor": {"mse": {"mean": 0.020, "std": 0.002}, "psnr": {"mean": 17.0, "std": 1.0},
                 "sharpness_samples": {"mean": 0.10, "std": 0.1},
                 "frechet": {"mobilenet_v2": {"samples": 9.0, "reconstructions": 1.0}}},
    }  # fmt: skip
    metrics = {
        "n": 20, "split": "test", "runs": runs, "t_tests": t_tests,
        "metrics": {name: {"description": d, "better": b} for name, (d, b) in METRICS.items()},
        "feature_spaces": {"mobilenet_v2": {"description": "MobileNetV2 features",
                                            "weights": "package"}},
        "originals": {"sharpness": {"mean": 0.5, "std": 0.1}},
    }  # fmt: skip
    names = ["good", "poor"]
    return ReportData(title="t", names=names, run_dirs=[Path(n) for n in names],
                      configs={n: RunConfig() for n in names}, metrics=metrics)  # fmt: skip


def finding_lines(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", item) for item in re.findall(r"<li>(.*?)</li>", html)]


def test_findings_name_the_winner_for_lower_and_higher_is_better_metrics():
    data = two_runs(
        [
            t_test("ssim", 0.5, 0.20),  # not significant: no finding, the next ones still count
            t_test("mse", -0.010, 0.001234, p_holm=0.0049),  # a - b < 0, lower is better: a wins
            t_test("psnr", 3.0, 0.002, p_holm=0.006),  # a - b > 0, higher is better: a wins
            t_test(
                "sharpness_samples_standard",
                -0.2,
                0.01,
                a="poor",
                b="good",
                test="welch",
                p_holm=0.03,
            ),
            t_test("ssim", 0.5, 0.01, p_holm=0.06),  # p < 0.05, but not after the correction
            t_test("sharpness_reconstructions", -0.3, 0.0001, b="originals"),  # not between runs
        ]
    )
    html = findings(data)
    assert "</li><li>" in html and "XX" not in html  # one item after the other
    lines = finding_lines(html)
    assert lines == [
        "good beats poor on reconstruction mean squared error: mean difference 0.01 "
        "(paired t = -5.43, p = 0.0012, Holm-adjusted p = 0.0049, n = 20)",
        "good beats poor on reconstruction PSNR (dB): mean difference 3 (paired t = 5.43, "
        "p = 0.002, Holm-adjusted p = 0.006, n = 20)",
        "good beats poor on Laplacian variance of standard samples (sharpness): "
        "mean difference 0.2 (Welch t = -5.43, p = 0.01, Holm-adjusted p = 0.03, n = 20)",
    ]
    assert "Significant differences (Holm-adjusted p &lt; 0.05)" in html
    assert "Holm-Bonferroni step-down method over all 6 t-tests" in html  # the correction


def test_metrics_without_descriptions_are_named_by_key_and_higher_is_better():
    data = two_runs([t_test("custom", -1.0, 0.01)])
    del data.metrics["metrics"]
    lines = finding_lines(findings(data))
    assert lines == [
        "poor beats good on custom: mean difference 1 (paired t = -5.43, p = 0.01, "
        "Holm-adjusted p = 0.01, n = 20)"
    ]
    assert findings(dataclasses.replace(data, metrics=None)) == ""


def test_reversed_runs_reverse_the_winner():
    lines = finding_lines(findings(two_runs([t_test("mse", 0.010, 0.001, a="poor", b="good")])))
    assert len(lines) == 1 and lines[0].startswith("good beats poor")


def test_no_significant_difference_is_said_and_none_p_values_are_ignored():
    html = findings(two_runs([t_test("mse", -0.01, 0.04, p_holm=0.08), t_test("psnr", 1.0, None)]))
    assert "No difference between runs is significant at Holm-adjusted p &lt; 0.05" in html
    assert "over all 1 t-tests" in html  # the test without a p value is not in the family
    assert "<li>" not in html


def test_t_tests_without_adjusted_p_values_declare_no_winner():
    old = t_test("mse", -0.01, 0.001)
    del old["p_holm"]
    html = findings(two_runs([old]))
    assert "<li>" not in html and "without a correction for multiple comparisons" in html


def test_the_t_test_table_prints_both_p_values_and_bolds_by_the_adjusted_one():
    html = metrics_section(
        two_runs(
            [t_test("mse", -0.01, 0.001, p_holm=0.003), t_test("psnr", 1.0, 0.02, p_holm=0.07)]
        )
    )
    rows = re.findall(r"<tr( class=\"significant\")?><td>(mse|psnr)</td>(.*?)</tr>", html)
    assert [(bool(css), metric) for css, metric, _ in rows] == [(True, "mse"), (False, "psnr")]
    numbers = [re.findall(r"<td>([^<]*)</td>", cells_html)[4:6] for _, _, cells_html in rows]
    assert numbers == [["0.001", "0.003"], ["0.02", "0.07"]]
    assert "<th>Holm-adjusted p</th>" in html and "Holm-Bonferroni" in html


def test_the_glance_table_highlights_the_best_cell_of_each_column():
    html = glance_section(two_runs([]))
    body = re.findall(r"<tr><td><b>(\w+)</b>.*?</tr>", html)
    assert body == ["good", "poor"]
    good_row, poor_row = re.findall(r"<tr><td><b>\w+</b>(.*?)</tr>", html)
    # Columns: MSE (lower), PSNR (higher), sharpness of samples (higher), Fréchet (lower).
    assert re.findall(r'<td class="best">([^<]*)</td>', good_row) == ["0.01", "20", "0.3", "4"]
    assert re.findall(r'<td class="best">([^<]*)</td>', poor_row) == []
    assert "the original test images score 0.5" in html


def test_the_metrics_table_highlights_per_metric_and_per_fréchet_target():
    html = metrics_section(two_runs([t_test("mse", -0.01, 0.001)]))
    rows = dict(re.findall(r"<tr><td>([^<]*)</td>(.*?)</tr>", html))
    best = {key: re.findall(r'<td class="best">([\d.]+)', row) for key, row in rows.items()}
    assert best["reconstruction mean squared error (lower is better)"] == ["0.01"]
    assert best["reconstruction PSNR (dB) (higher is better)"] == ["20"]
    reconstructions = next(k for k in best if "reconstructions vs test" in k)
    assert best[reconstructions] == ["1"]  # poor wins this one
    assert '<tr class="significant"><td>mse</td>' in html
    assert "</td></tr><tr><td>" in html and "XX" not in html  # rows joined with nothing between


@pytest.mark.parametrize(
    "values, better, expected",
    [([1.0, 2.0, None], "lower", {0}), ([1.0, 2.0, 2.0], "higher", {1, 2}),
     ([3.0, 3.0], "higher", set()), ([None, 1.0], "lower", set())],
)  # fmt: skip
def test_best_indices(values, better, expected):
    assert best_indices(values, better) == expected
    html = cells(values, better)
    assert {i for i, cell in enumerate(html) if 'class="best"' in cell} == expected


@pytest.mark.parametrize(
    "preset, described",
    [("pvae", "PVAE (pixel loss, sse)"), ("pvae-bce", "PVAE (pixel loss, bce)"),
     ("ssim-colour", "VAE with SSIM + colour loss"),
     ("vae-123", "DFC-VAE: vgg19 relu1_1, relu2_1, relu3_1"),
     ("vae-mix", "DFC-VAE + pixel loss: vgg19 relu1_1, relu2_1, relu3_1, relu4_1, relu5_1")],
)  # fmt: skip
def test_each_run_is_described_by_its_loss(preset, described):
    from dfcvae.report.markup import describe_run
    from dfcvae.vae.presets import config_from_preset

    assert describe_run(config_from_preset(preset)) == described


def test_every_accuracy_in_the_report_stands_beside_its_majority_baseline():
    from dfcvae.report.sections import predictions_section

    data = two_runs([])
    data.predictions = {
        name: [
            {
                "kind": "attribute",
                "attribute": "Trouser",
                "accuracy": acc,
                "majority_baseline": 0.9,
            },
            {"kind": "mean", "attribute": "mean", "accuracy": acc, "majority_baseline": 0.9},
            {"kind": "reference", "attribute": "paper mean", "accuracy": 0.8695},
        ]
        for name, acc in (("good", 0.96), ("poor", 0.93))
    }
    glance = glance_section(data)
    assert "SVM mean accuracy ↑ (majority baseline)" in glance
    assert '<td class="best">0.96 <small>(majority 0.9)</small></td>' in glance
    assert "<td>0.93 <small>(majority 0.9)</small></td>" in glance
    table = predictions_section(data)
    rows = dict(re.findall(r"<td>(Trouser|mean|paper mean)</td><td>([^<]*)</td>", table))
    assert rows == {"Trouser": "90", "mean": "90", "paper mean": "not given by the paper"}


def test_the_command_lines_print_the_baseline_beside_each_accuracy():
    from dfcvae.demo_summary import format_summary
    from dfcvae.report.tables import format_predictions

    rows = [
        {"kind": "attribute", "attribute": "Trouser", "accuracy": 0.96, "majority_baseline": 0.9},
        {"kind": "reference", "attribute": "paper mean", "accuracy": 0.8695},
    ]
    lines = format_predictions(rows).splitlines()
    assert lines[1].split() == ["Trouser", "96.00%", "90.00%"]
    assert lines[-1].split()[-2:] == ["86.95%", "n/a"]
    model = {
        "sharpness_reconstructions": 0.02,
        "sharpness_samples": 0.01,
        "frechet_samples": {},
        "class_accuracy": 0.85,
        "majority_baseline": 0.103,
        "one_vs_rest_mean": 0.95,
        "one_vs_rest_majority_baseline": 0.9,
    }
    summary = {
        "test_images": 10,
        "originals_sharpness": 0.1,
        "models": {"dfc": model},
        "report": "r.html",
        "seconds": 1.0,
    }
    assert "dfc             85.0% (majority 10.3%), 95.0% (majority 90.0%)" in format_summary(
        summary
    )


@pytest.mark.parametrize("seed", range(5))
def test_the_classifiers_baseline_is_scikit_learns_most_frequent_dummy(seed):
    import numpy as np
    from sklearn.dummy import DummyClassifier

    from dfcvae.training.classifier import majority_baseline

    rng = np.random.default_rng(seed)
    train, test = rng.integers(0, 4, 40), rng.integers(0, 4, 30)
    if seed == 0:
        train = np.array([2, 2, 1, 1, 3])  # a tie: the smallest class wins, as in scikit-learn
    dummy = DummyClassifier(strategy="most_frequent").fit(np.zeros((len(train), 1)), train)
    expected = float(np.mean(dummy.predict(np.zeros((len(test), 1))) == test))
    assert majority_baseline(train, test) == expected
