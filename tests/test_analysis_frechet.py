"""The Fréchet distance: zero for equal sets, the closed form for Gaussians, offline features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dfcvae.analysis import frechet_distance
from dfcvae.analysis.frechet import frechet_distance_from_statistics


def test_frechet_distance_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(200, 8))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_shifted_isotropic_gaussians_is_the_closed_form():
    # N(m1, s1^2 I) vs N(m2, s2^2 I): |m1 - m2|^2 + D (s1 - s2)^2
    d = 4
    mu_a, mu_b = np.zeros(d), np.full(d, 2.0)
    cov_a, cov_b = np.eye(d) * 1.0, np.eye(d) * 9.0
    expected = 4.0 * d + d * (1.0 - 3.0) ** 2
    assert frechet_distance_from_statistics(mu_a, cov_a, mu_b, cov_b) == pytest.approx(expected)


def test_frechet_distance_with_fewer_samples_than_dimensions_is_finite_and_positive():
    rng = np.random.default_rng(1)
    a = torch.from_numpy(rng.normal(size=(10, 64)))
    b = torch.from_numpy(rng.normal(loc=1.0, size=(12, 64)))
    value = frechet_distance(a, b)
    assert np.isfinite(value) and value > 50  # mean shift alone contributes 64


def test_mobilenet_feature_space_gives_1280_d_features_offline():
    from dfcvae.analysis.feature_spaces import FeatureSpaceUnavailable, mobilenet_v2_space

    try:
        space = mobilenet_v2_space()
    except FeatureSpaceUnavailable as error:
        pytest.skip(f"MobileNetV2 weights not here: {error}")
    images = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    features = space.extract(images)
    assert features.shape == (3, 1280)
    assert "not Inception FID" in space.description


def test_inception_fid_without_torch_fidelity_is_unavailable_with_a_reason(monkeypatch):
    import sys

    from dfcvae.analysis.feature_spaces import FeatureSpaceUnavailable, inception_space

    monkeypatch.setitem(sys.modules, "torch_fidelity", None)  # import fails, installed or not
    with pytest.raises(FeatureSpaceUnavailable, match="Inception FID needs the torch-fidelity"):
        inception_space()


def test_inception_fid_without_its_weights_offline_is_unavailable_with_a_reason(monkeypatch):
    import sys
    import types

    import dfcvae.analysis.feature_spaces as feature_spaces

    monkeypatch.setitem(sys.modules, "torch_fidelity", types.ModuleType("torch_fidelity"))
    monkeypatch.setattr(feature_spaces, "local_weights", lambda source: (None, ""))
    monkeypatch.setenv("DFCVAE_OFFLINE", "1")
    with pytest.raises(feature_spaces.FeatureSpaceUnavailable, match=r"Inception FID weights .* "
                       "are not in .* and DFCVAE_OFFLINE is set"):  # fmt: skip
        feature_spaces.inception_space()


@pytest.mark.parametrize("n_a, n_b, d", [(30, 40, 64), (300, 200, 8)])
def test_low_rank_and_full_rank_routes_give_the_eigendecomposition_value(n_a, n_b, d):
    from dfcvae.analysis.frechet import gaussian_statistics

    rng = np.random.default_rng(4)
    a = rng.normal(size=(n_a, d)) @ rng.normal(size=(d, d))
    b = rng.normal(loc=0.5, size=(n_b, d))
    statistics = (*gaussian_statistics(a), *gaussian_statistics(b))
    assert frechet_distance(a, b) == pytest.approx(
        frechet_distance_from_statistics(*statistics), rel=1e-8
    )


def test_classifier_feature_space_pools_the_last_block(tmp_path):
    from dfcvae.analysis.feature_spaces import classifier_space
    from dfcvae.files import write_json, write_tensors
    from dfcvae.loss_networks.classifier import (
        WEIGHTS_FILE,
        ClassifierConfig,
        SmallClassifier,
        classifier_config_dict,
    )

    config = ClassifierConfig(channels=1, widths=[4, 8, 16], dataset="fashion-mnist")
    write_tensors(tmp_path / WEIGHTS_FILE, SmallClassifier(config).state_dict())
    write_json(tmp_path / "config.json", classifier_config_dict(config))
    space = classifier_space(tmp_path)
    features = space.extract(torch.rand(5, 1, 32, 32))
    assert features.shape == (5, 16) and space.name == "classifier"
    assert "not Inception FID" in space.description and space.source == str(tmp_path)


def test_lpips_per_image_is_zero_for_identical_images():
    from torchmetrics.functional.image.lpips import _NoTrainLpips

    from dfcvae.analysis.lpips import lpips_per_image

    network = _NoTrainLpips(net="alex", pnet_rand=True)  # random backbone: no download
    a = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    b = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    assert lpips_per_image(network, a, a).abs().max() < 1e-6
    different = lpips_per_image(network, a, b)
    assert different.shape == (3,) and (different > 0).all()


def write_grey_classifier(folder):
    from dfcvae.files import write_json, write_tensors
    from dfcvae.loss_networks.classifier import (
        WEIGHTS_FILE,
        ClassifierConfig,
        SmallClassifier,
        classifier_config_dict,
    )

    torch.manual_seed(0)
    config = ClassifierConfig(channels=1, widths=[4, 8, 16], dataset="fashion-mnist")
    write_tensors(folder / WEIGHTS_FILE, SmallClassifier(config).state_dict())
    write_json(folder / "config.json", classifier_config_dict(config))


def test_the_classifier_space_is_its_loss_network_average_pooled(tmp_path):
    from dfcvae.analysis.feature_spaces import classifier_space
    from dfcvae.loss_networks import build_loss_network

    write_grey_classifier(tmp_path)
    images = torch.rand(4, 1, 24, 24, generator=torch.Generator().manual_seed(2))
    network = build_loss_network("classifier", ["relu3"], str(tmp_path), input_size=32)
    (relu3,) = network(images)
    expected = relu3.mean(dim=(2, 3))
    torch.testing.assert_close(classifier_space(tmp_path).extract(images), expected)


def test_an_rgb_image_reaches_a_grey_classifier_space_as_its_luma(tmp_path):
    """The loss networks' conversion (ITU-R 601 luma), not a channel mean."""
    from dfcvae.analysis.feature_spaces import classifier_space

    write_grey_classifier(tmp_path)
    space = classifier_space(tmp_path)
    rgb = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    luma = (rgb * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    torch.testing.assert_close(space.extract(rgb), space.extract(luma))
    assert not torch.allclose(space.extract(rgb), space.extract(rgb.mean(1, keepdim=True)))


def test_the_mobilenet_space_is_block18_pooled_at_96_pixels():
    from dfcvae.analysis.feature_spaces import FeatureSpaceUnavailable, mobilenet_v2_space
    from dfcvae.loss_networks import build_loss_network

    try:
        space = mobilenet_v2_space()
    except FeatureSpaceUnavailable as error:
        pytest.skip(f"MobileNetV2 weights not here: {error}")
    images = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(5))
    (block18,) = build_loss_network("mobilenet_v2", ["block18"], input_size=96)(images)
    torch.testing.assert_close(space.extract(images), block18.mean(dim=(2, 3)))
    assert "1280-d features at 96x96" in space.description
