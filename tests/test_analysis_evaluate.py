"""``evaluate`` on two tiny runs: the same images, strict JSON, t-tests that match by hand."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dfcvae.analysis import evaluate, paired_t_test
from dfcvae.errors import ConfigError
from tests.conftest import perturbed_copy

PAIRED = ("mse", "psnr", "ssim", "sharpness_reconstructions")


@pytest.fixture(scope="module")
def two_runs(tiny_run, tmp_path_factory) -> list[Path]:
    """The tiny PVAE and a copy whose decoder weights are perturbed: two different models."""
    other = perturbed_copy(tiny_run, tmp_path_factory.mktemp("runs") / "perturbed", 0.05, seed=0)
    return [Path(tiny_run), other]


@pytest.fixture(scope="module")
def metrics(two_runs) -> dict:
    return evaluate(two_runs, n=24, batch_size=32, seed=0, progress=False)


def test_evaluate_reports_every_metric_in_range(metrics, two_runs):
    assert metrics["n"] == 24 and len(metrics["indices"]) == 24
    assert list(metrics["runs"]) == [path.name for path in two_runs]
    for result in metrics["runs"].values():
        assert result["mse"]["mean"] >= 0
        assert np.isfinite(result["psnr"]["mean"])
        assert -1 <= result["ssim"]["mean"] <= 1
        assert result["sharpness_reconstructions"]["mean"] >= 0
        assert result["sharpness_samples"]["mean"] >= 0
    assert metrics["originals"]["sharpness"]["mean"] > 0
    json.dumps(metrics, allow_nan=False)  # strict JSON: NaN was written as None


def test_unavailable_metrics_are_reported_with_a_reason_not_skipped(metrics):
    spaces = set(metrics["feature_spaces"])
    unavailable = metrics["unavailable"]
    for space in ("inception", "mobilenet_v2", "classifier"):
        assert space in spaces or f"frechet_{space}" in unavailable
    assert "lpips" in unavailable or all("lpips" in r for r in metrics["runs"].values())
    assert all(isinstance(reason, str) and reason for reason in unavailable.values())
    assert "classifier" in unavailable["frechet_classifier"]  # no run uses one here
    for name, info in metrics["feature_spaces"].items():
        if name != "inception":
            assert "not Inception FID" in info["description"]


def test_frechet_distances_are_named_by_feature_space(metrics):
    for result in metrics["runs"].values():
        assert set(result["frechet"]) == set(metrics["feature_spaces"])
        for value in result["frechet"].values():
            assert value["samples"] >= 0 and value["reconstructions"] >= 0


def test_t_tests_pair_the_same_images_and_match_a_recomputation(metrics, two_runs):
    a, b = (path.name for path in two_runs)
    tests = {(t["metric"], t["a"], t["b"]): t for t in metrics["t_tests"]}
    for metric in PAIRED:
        test = tests[(metric, a, b)]
        expected = paired_t_test(metrics["per_image"][a][metric], metrics["per_image"][b][metric])
        assert test["t"] == pytest.approx(expected["t"])
        assert test["mean_difference"] == pytest.approx(
            metrics["runs"][a][metric]["mean"] - metrics["runs"][b][metric]["mean"]
        )
    for sampler in ("standard", "fitted"):  # one Welch test per sampler, the same for a and b
        test = tests[(f"sharpness_samples_{sampler}", a, b)]
        assert test["test"] == "welch" and test["n"] == metrics["n"]
    assert tests[("sharpness_reconstructions", a, "originals")]["mean_difference"] < 0  # blurrier


def test_samples_are_scored_for_each_sampler(metrics, two_runs):
    assert metrics["samplers"] == ["standard", "fitted"]
    default = metrics["default_sampler"]
    for name, result in metrics["runs"].items():
        assert set(result["samplers"]) == {"standard", "fitted"}
        for sampler, scores in result["samplers"].items():
            per_image = metrics["per_image"][name][f"sharpness_samples_{sampler}"]
            assert scores["sharpness"]["mean"] == pytest.approx(np.mean(per_image))
            assert set(scores["feature_spaces"]) == set(metrics["feature_spaces"])
            for space in scores["feature_spaces"].values():
                assert 0 <= space["precision"] <= 1 and 0 <= space["recall"] <= 1
                assert space["frechet"] >= 0 and space["k"] == 3
        assert result["sharpness_samples"] == result["samplers"][default]["sharpness"]
        default_spaces = result["samplers"][default]["feature_spaces"]
        for space, value in result["frechet"].items():
            assert value["samples"] == default_spaces[space]["frechet"]
    # the two samplers draw different codes, so their images differ
    a = metrics["per_image"][two_runs[0].name]
    assert a["sharpness_samples_standard"] != a["sharpness_samples_fitted"]


def test_evaluate_is_deterministic_with_a_seed(metrics, two_runs):
    again = evaluate(two_runs, n=24, batch_size=32, seed=0, progress=False, use_lpips=False,
                     feature_spaces=())  # fmt: skip
    assert again["indices"] == metrics["indices"]
    for name in again["runs"]:
        for metric in ("mse", "sharpness_samples"):
            assert again["per_image"][name][metric] == metrics["per_image"][name][metric]


def test_runs_trained_on_other_data_are_refused(two_runs, tmp_path):
    other = tmp_path / "mnist-run"
    shutil.copytree(two_runs[1], other)
    config = json.loads((other / "config.json").read_text())
    config["data"]["dataset"] = "mnist"
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="same test images"):
        evaluate([two_runs[0], other], n=4, progress=False)


def test_the_classifier_space_of_a_run_s_own_loss_network_comes_with_a_note(two_runs, tmp_path):
    from dfcvae.files import write_json, write_tensors
    from dfcvae.loss_networks.classifier import (
        WEIGHTS_FILE,
        ClassifierConfig,
        SmallClassifier,
        classifier_config_dict,
    )

    classifier = tmp_path / "classifier"
    config = ClassifierConfig(channels=1, widths=[4, 8, 16])
    write_tensors(classifier / WEIGHTS_FILE, SmallClassifier(config).state_dict())
    write_json(classifier / "config.json", classifier_config_dict(config))
    dfc = tmp_path / "dfc-classifier"
    shutil.copytree(two_runs[1], dfc)
    run_config = json.loads((dfc / "config.json").read_text())
    run_config["loss"].update(
        reconstruction="feature",
        loss_network="classifier",
        layers=["relu1", "relu2"],
        loss_weights=str(classifier),
    )
    (dfc / "config.json").write_text(json.dumps(run_config))
    metrics = evaluate([two_runs[0], dfc], n=8, feature_spaces=("classifier",), use_lpips=False,
                       progress=False)  # fmt: skip
    assert "pooled 16-d" in metrics["feature_spaces"]["classifier"]["description"]
    assert metrics["feature_spaces"]["classifier"]["weights"] == str(classifier)
    assert any("loss network of dfc-classifier" in note for note in metrics["notes"])
