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
from dfcvae.run_config import RunConfig


def t_test(metric: str, difference: float, p: float, a="good", b="poor", test="paired") -> dict:
    t = 5.4321 if difference > 0 else -5.4321
    return {"metric": metric, "a": a, "b": b, "test": test, "t": t, "p": p,
            "mean_difference": difference, "n": 20}  # fmt: skip


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
    data = two_runs([
        t_test("ssim", 0.5, 0.20),  # not significant: no finding, and the next ones still count
        t_test("mse", -0.010, 0.001234),  # a - b < 0 and lower is better: a wins
        t_test("psnr", 3.0, 0.002),  # a - b > 0 and higher is better: a wins
        t_test("sharpness_samples", -0.2, 0.01, a="poor", b="good", test="welch"),  # b wins
        t_test("ssim", 0.5, 0.20),  # not significant: no finding
        t_test("sharpness_reconstructions", -0.3, 0.0001, b="originals"),  # against the originals
    ])  # fmt: skip
    html = findings(data)
    assert "</li><li>" in html and "XX" not in html  # one item after the other
    lines = finding_lines(html)
    assert lines == [
        "good beats poor on reconstruction mean squared error: mean difference 0.01 "
        "(paired t = -5.43, p = 0.0012, n = 20)",
        "good beats poor on reconstruction PSNR (dB): mean difference 3 (paired t = 5.43, "
        "p = 0.002, n = 20)",
        "good beats poor on Laplacian variance of samples (sharpness): mean difference 0.2 "
        "(Welch t = -5.43, p = 0.01, n = 20)",
    ]


def test_metrics_without_descriptions_are_named_by_key_and_higher_is_better():
    data = two_runs([t_test("custom", -1.0, 0.01)])
    del data.metrics["metrics"]
    lines = finding_lines(findings(data))
    assert lines == [
        "poor beats good on custom: mean difference 1 (paired t = -5.43, p = 0.01, n = 20)"
    ]
    assert findings(dataclasses.replace(data, metrics=None)) == ""


def test_reversed_runs_reverse_the_winner():
    lines = finding_lines(findings(two_runs([t_test("mse", 0.010, 0.001, a="poor", b="good")])))
    assert len(lines) == 1 and lines[0].startswith("good beats poor")


def test_no_significant_difference_is_said_and_none_p_values_are_ignored():
    html = findings(two_runs([t_test("mse", -0.01, 0.05), t_test("psnr", 1.0, None)]))
    assert "No difference between runs is significant at p &lt; 0.05" in html
    assert "<li>" not in html


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
    from dfcvae.presets import config_from_preset
    from dfcvae.report.markup import describe_run

    assert describe_run(config_from_preset(preset)) == described
