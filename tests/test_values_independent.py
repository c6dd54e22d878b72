"""Values of the pure analysis functions against independent computations (numpy, scipy,
scikit-image written here), never against the function under test."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy import linalg, ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch import nn
from torch.nn import functional as F

from dfcvae import DFCVAE, DFCVAELoss, ModelConfig, config_from_preset
from dfcvae.analysis.attributes import attribute_correlation, attribute_vectors_from_latents
from dfcvae.analysis.frechet import (
    frechet_distance,
    frechet_distance_from_statistics,
    gaussian_statistics,
)
from dfcvae.analysis.grids import lerp, prior_codes, slerp
from dfcvae.analysis.predict import linear_svm_accuracy, majority_baseline
from dfcvae.analysis.quality import (
    laplacian_variance,
    mse_per_image,
    paired_t_test,
    psnr_per_image,
    ssim_per_image,
    to_gray,
)
from dfcvae.errors import ConfigError
from dfcvae.loss_networks.base import LossNetwork, LossNetworkSpec
from dfcvae.report.markup import cells
from dfcvae.vae.losses import kl_divergence, pixel_loss


def images(n: int, channels: int = 1, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Smooth random images in [0, 1] (SSIM of pure noise says little)."""
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random((n, channels, size, size)), sigma=(0, 0, 1.5, 1.5))
    x = (x - x.min()) / (x.max() - x.min())
    return torch.from_numpy(x).float()


# --- Fréchet distance ----------------------------------------------------------------------


def frechet_by_sqrtm(mu_a, cov_a, mu_b, cov_b) -> float:
    """The textbook formula with scipy's general matrix square root."""
    covmean = linalg.sqrtm(cov_a @ cov_b).real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * covmean))


def test_frechet_of_diagonal_gaussians_is_the_closed_form():
    mu_a, mu_b = np.array([0.0, 1.0, -2.0]), np.array([3.0, 1.0, 2.0])
    var_a, var_b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    value = frechet_distance_from_statistics(mu_a, np.diag(var_a), mu_b, np.diag(var_b))
    assert value == pytest.approx(expected, rel=1e-10)
    assert expected == pytest.approx(25 + 1 + 1 + 6.25)  # |3, 0, 4|^2, then (1-2, 2-1, 3-0.5)^2


def test_frechet_of_non_commuting_covariances_matches_scipy_sqrtm():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    cov_a, cov_b = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
    mu_a, mu_b = rng.normal(size=5), rng.normal(size=5)
    expected = frechet_by_sqrtm(mu_a, cov_a, mu_b, cov_b)
    assert frechet_distance_from_statistics(mu_a, cov_a, mu_b, cov_b) == pytest.approx(expected)


@pytest.mark.parametrize("n_a, n_b, d", [(200, 150, 6), (12, 9, 20)])
def test_frechet_of_feature_sets_matches_numpy_statistics_and_sqrtm(n_a, n_b, d):
    rng = np.random.default_rng(n_a)
    a = rng.normal(size=(n_a, d)) @ rng.normal(size=(d, d))
    b = rng.normal(loc=0.5, size=(n_b, d)) * np.linspace(0.5, 2.0, d)
    stats = [(x.mean(0), np.cov(x, rowvar=False)) for x in (a, b)]
    expected = frechet_by_sqrtm(*stats[0], *stats[1])
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6, abs=1e-8)
    assert frechet_distance(torch.from_numpy(b), torch.from_numpy(a)) == pytest.approx(
        expected, rel=1e-6, abs=1e-8
    )
    mean, cov = gaussian_statistics(a)
    np.testing.assert_allclose(mean, stats[0][0])
    np.testing.assert_allclose(cov, stats[0][1])


def test_frechet_of_two_samples_in_a_small_low_rank_space_matches_sqrtm():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(2, 8)) * 0.01  # 2 and 3 samples in 8-d: the low-rank route
    b = rng.normal(size=(3, 8)) * 0.01 + 0.001
    stats = [(x.mean(0), np.cov(x, rowvar=False)) for x in (a, b)]
    expected = frechet_by_sqrtm(*stats[0], *stats[1])
    assert expected < 0.01  # far below 1: no floor at 1
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    # float32 features (with a graph) are computed in float64, like their float64 copies.
    a32, b32 = torch.tensor(a, dtype=torch.float32, requires_grad=True), torch.tensor(b).float()
    same = frechet_distance(a32.detach().double(), b32.double())
    assert frechet_distance(a32, b32) == pytest.approx(same, rel=1e-12)


def test_frechet_refuses_too_few_or_mismatched_features():
    with pytest.raises(ValueError, match="needs at least 2 feature vectors, got 1$"):
        gaussian_statistics(np.zeros((1, 3)))
    mean, cov = gaussian_statistics(np.array([[0.0, 1.0], [2.0, 5.0]]))  # two are enough
    np.testing.assert_allclose(mean, [1.0, 3.0])
    np.testing.assert_allclose(cov, [[2.0, 4.0], [4.0, 8.0]])
    with pytest.raises(ValueError, match="feature sizes differ"):
        frechet_distance(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="^a Fréchet distance needs at least 2 feature vectors "):
        frechet_distance(np.zeros((1, 30)), np.ones((5, 30)))
    with pytest.raises(ValueError, match="^a Fréchet distance needs at least 2 feature vectors "):
        frechet_distance(np.ones((5, 30)), np.zeros((1, 30)))


# --- Interpolation -------------------------------------------------------------------------


def test_slerp_between_orthogonal_codes_meets_at_45_degrees_with_interpolated_norms():
    left = torch.tensor([[2.0, 0.0, 0.0]])
    right = torch.tensor([[0.0, 4.0, 0.0]])
    path = slerp(left, right, 5)[0]
    assert path.shape == (5, 3)
    for k, point in enumerate(path):
        angle = math.pi / 2 * k / 4  # equal angular steps along the great circle
        norm = 2.0 + 2.0 * k / 4  # norms interpolate linearly
        expected = norm * torch.tensor([math.cos(angle), math.sin(angle), 0.0])
        torch.testing.assert_close(point, expected, atol=1e-5, rtol=1e-5)
    midpoint = path[2]
    cosine = float(midpoint[0] / midpoint.norm())
    assert math.degrees(math.acos(cosine)) == pytest.approx(45.0, abs=1e-3)
    assert float(midpoint.norm()) == pytest.approx(3.0, abs=1e-5)


def test_slerp_differs_from_lerp_and_falls_back_to_it_for_parallel_codes():
    left, right = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    torch.testing.assert_close(lerp(left, right, 3)[0, 1], torch.tensor([0.5, 0.5]))
    assert float(slerp(left, right, 3)[0, 1].norm()) == pytest.approx(1.0)
    parallel = slerp(torch.tensor([[1.0, 1.0]]), torch.tensor([[3.0, 3.0]]), 3)[0]
    torch.testing.assert_close(parallel[1], torch.tensor([2.0, 2.0]))
    opposite = slerp(torch.tensor([[1.0, 0.0]]), torch.tensor([[-1.0, 0.0]]), 3)[0]
    torch.testing.assert_close(opposite[1], torch.tensor([0.0, 0.0]))


def slerp_by_hand(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """One row of slerp in numpy: equal angles between the unit codes, norms interpolated
    linearly; the straight line when the codes are (anti)parallel."""
    ts = np.linspace(0, 1, steps)
    cosine = np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)
    omega = math.acos(cosine)
    if abs(math.sin(omega)) < 1e-6:
        return np.stack([(1 - t) * a + t * b for t in ts])
    unit_a, unit_b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    return np.stack(
        [(math.sin((1 - t) * omega) * unit_a + math.sin(t * omega) * unit_b) / math.sin(omega)
         * ((1 - t) * np.linalg.norm(a) + t * np.linalg.norm(b)) for t in ts]
    )  # fmt: skip


def test_slerp_and_lerp_of_a_batch_of_rows_match_numpy_in_float64():
    rng = np.random.default_rng(0)
    left = rng.normal(size=(5, 6)) * np.array([[0.3], [1.0], [2.0], [0.7], [1.5]])
    right = rng.normal(size=(5, 6)) * np.array([[0.5], [0.2], [3.0], [0.7], [1.5]])
    right[3] = 2.7 * left[3]  # parallel: cos rounds to 1 or just above
    right[4] = -left[4]  # antiparallel
    steps = 7  # 1/6 is not exact in float32
    path = slerp(torch.from_numpy(left), torch.from_numpy(right), steps)
    assert path.dtype == torch.float64 and path.shape == (5, steps, 6)
    for row in range(5):
        expected = slerp_by_hand(left[row], right[row], steps)
        np.testing.assert_allclose(path[row].numpy(), expected, rtol=1e-12, atol=1e-12)
    straight = lerp(torch.from_numpy(left), torch.from_numpy(right), steps)
    assert straight.dtype == torch.float64
    ts = np.linspace(0, 1, steps)[None, :, None]
    expected = (1 - ts) * left[:, None] + ts * right[:, None]
    np.testing.assert_allclose(straight.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_prior_codes_are_seeded_standard_normals_times_the_temperature():
    expected = torch.randn(6, 4, generator=torch.Generator().manual_seed(7)) * 0.4
    torch.testing.assert_close(prior_codes(6, 4, 0.4, 7), expected)
    assert torch.equal(prior_codes(2, 3, 0.0, 7), torch.zeros(2, 3))  # T = 0: the mean code
    with pytest.raises(ConfigError, match="--temperature -0.1: must be >= 0"):
        prior_codes(2, 3, -0.1, 7)


# --- Per-image quality ---------------------------------------------------------------------


def ssim_by_hand(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM (Wang et al. 2004): Gaussian window sigma 1.5 (11 taps), reflect-101 borders, the
    mean of the whole map; torchmetrics' convention (scikit-image crops the borders instead)."""

    def blur(a):
        return ndimage.gaussian_filter(a, 1.5, truncate=3.5, mode="mirror")

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return float(np.mean((2 * mx * my + c1) * (2 * sxy + c2)
                         / ((mx**2 + my**2 + c1) * (sxx + syy + c2))))  # fmt: skip


def test_mse_psnr_and_ssim_per_image_match_scikit_image():
    target = 0.6 * images(4, seed=1)  # a range below 1: data_range is 1, not the data's
    recon = (target + 0.1 * images(4, seed=2)).clamp(0, 1)
    recon[2] = target[2]  # one perfect reconstruction
    mse = mse_per_image(recon, target).numpy()
    psnr = psnr_per_image(recon, target).numpy()
    ssim = ssim_per_image(recon, target).numpy()
    for i in range(4):
        r, t = recon[i, 0].double().numpy(), target[i, 0].double().numpy()
        assert mse[i] == pytest.approx(np.mean((r - t) ** 2), rel=1e-12, abs=1e-15)
        if i != 2:
            assert psnr[i] == pytest.approx(peak_signal_noise_ratio(t, r, data_range=1.0))
        reference = structural_similarity(t, r, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False)  # fmt: skip
        assert ssim[i] == pytest.approx(reference, abs=0.02)  # scikit-image crops the borders
        assert ssim[i] == pytest.approx(ssim_by_hand(t, r), rel=1e-9)
    assert mse[2] == 0 and ssim[2] == pytest.approx(1.0)


def test_quality_of_rgb_images_matches_scikit_image_per_image():
    target = images(3, channels=3, seed=4)
    recon = (target * 0.8 + 0.1).clamp(0, 1)
    mse = mse_per_image(recon, target).numpy()
    ssim = ssim_per_image(recon, target).numpy()
    for i in range(3):
        r = recon[i].permute(1, 2, 0).double().numpy()
        t = target[i].permute(1, 2, 0).double().numpy()
        assert mse[i] == pytest.approx(np.mean((r - t) ** 2))
        reference = structural_similarity(t, r, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False, channel_axis=2)  # fmt: skip
        assert ssim[i] == pytest.approx(reference, abs=0.02)


def test_laplacian_variance_matches_scipy_with_reflected_borders():
    x = images(3, seed=5)
    x[1] = (torch.rand(1, 32, 32, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    values = laplacian_variance(x).numpy()
    for i in range(3):
        response = ndimage.laplace(x[i, 0].double().numpy(), mode="mirror")  # OpenCV REFLECT_101
        assert values[i] == pytest.approx(response.var(), rel=1e-9)
    assert values[1] > 10 * values[0]  # binary noise is far sharper than smooth images


def test_laplacian_variance_of_an_impulse_by_hand():
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 1.0
    # Laplacian: -4 at the centre, 1 at its 4 neighbours, 0 elsewhere; mean 0 over 25 pixels.
    assert float(laplacian_variance(x)[0]) == pytest.approx((16 + 4) / 25)
    edge = torch.zeros(1, 1, 4, 4)
    edge[..., :, 2:] = 1.0
    # Columns respond 0, 1, -1, 0 (reflected border): variance 2/4 - 0 = 0.5.
    assert float(laplacian_variance(edge)[0]) == pytest.approx(0.5)


def test_luma_of_pure_colours_by_hand():
    colours = torch.eye(3).view(3, 3, 1, 1).expand(3, 3, 4, 4)
    gray = to_gray(colours)
    assert gray.shape == (3, 1, 4, 4)
    torch.testing.assert_close(gray[:, 0, 0, 0], torch.tensor([0.299, 0.587, 0.114]))
    stripes = torch.zeros(1, 3, 4, 4)
    stripes[0, 1, :, ::2] = 1.0  # green columns: luma 0.587, 0, 0.587, 0
    expected = ndimage.laplace(np.tile([0.587, 0.0], (4, 2)), mode="mirror").var()
    assert float(laplacian_variance(stripes)[0]) == pytest.approx(expected)
    single = torch.rand(2, 1, 4, 4)
    assert to_gray(single) is single


def test_paired_t_test_matches_scipy_on_pairs_and_sees_shuffled_pairs():
    from scipy.stats import ttest_rel

    rng = np.random.default_rng(0)
    a = rng.normal(size=20)
    b = a + 0.1 + 0.01 * rng.normal(size=20)
    result = paired_t_test(a, b)
    reference = ttest_rel(a, b)
    assert result["t"] == pytest.approx(reference.statistic)
    assert result["p"] == pytest.approx(reference.pvalue)
    assert result["mean_difference"] == pytest.approx(np.mean(a - b))
    assert result["n"] == 20
    column = paired_t_test(a.reshape(-1, 1), torch.from_numpy(b).view(1, -1))  # N items each
    assert column["t"] == pytest.approx(reference.statistic)
    single = paired_t_test(a.astype(np.float32), torch.from_numpy(b).float())  # computed in fp64
    exact = ttest_rel(a.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(float))
    assert single["t"] == pytest.approx(exact.statistic, rel=1e-12)
    two = paired_t_test([1.0, 2.0], [0.0, 0.5])  # two pairs are enough
    assert two["n"] == 2 and two["t"] == pytest.approx(ttest_rel([1.0, 2.0], [0.0, 0.5]).statistic)
    shuffled = paired_t_test(a, b[::-1])
    assert abs(shuffled["t"]) < abs(result["t"]) / 10  # pairs matter, not only the means
    with pytest.raises(ValueError, match="^paired t-test needs equal lengths, got 20 and 5$"):
        paired_t_test(a, b[:5])
    with pytest.raises(ValueError, match="^paired t-test needs at least 2 pairs$"):
        paired_t_test(a[:1], b[:1])


# --- Attributes and prediction -------------------------------------------------------------


def test_attribute_vectors_recover_a_planted_direction():
    rng = np.random.default_rng(0)
    n, d = 400, 8
    direction = rng.normal(size=d)
    has = rng.random(n) < 0.3
    mu = rng.normal(size=(n, d)) + np.outer(has, 2.0 * direction)
    labels = np.stack([has, ~has], axis=1)
    vectors = attribute_vectors_from_latents(torch.from_numpy(mu), labels, ["planted", "not"])
    expected = mu[has].mean(0) - mu[~has].mean(0)
    np.testing.assert_allclose(vectors["planted"].numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(vectors["not"].numpy(), -expected, rtol=1e-5, atol=1e-5)
    cosine = expected @ direction / np.linalg.norm(expected) / np.linalg.norm(direction)
    assert cosine > 0.95
    names, matrix = attribute_correlation(vectors)
    assert names == ["planted", "not"]
    np.testing.assert_allclose(matrix, [[1.0, -1.0], [-1.0, 1.0]], atol=1e-6)


def test_attribute_vectors_from_zero_one_labels_and_a_warning_naming_the_constant_ones():
    mu = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]])
    labels = np.array([[1, 1, 0], [0, 1, 0], [0, 1, 0]])  # ints, not booleans
    with pytest.warns(UserWarning) as record:
        vectors = attribute_vectors_from_latents(mu, labels, ["first", "all", "none"])
    torch.testing.assert_close(vectors["first"], torch.tensor([1.0 - 4.0, 0.0 - 3.0]))
    assert list(vectors) == ["first"]
    assert str(record[0].message) == "no attribute vector for all, none: all images agree on it"


def test_attribute_correlation_is_the_cosine_of_each_pair():
    vectors = {"a": torch.tensor([1.0, 0.0]), "b": torch.tensor([1.0, 1.0]),
               "c": torch.tensor([0.0, -3.0])}  # fmt: skip
    names, matrix = attribute_correlation(vectors)
    s = 1 / math.sqrt(2)
    np.testing.assert_allclose(matrix, [[1, s, 0], [s, 1, -s], [0, -s, 1]], atol=1e-7)


def test_attribute_correlation_of_short_and_opposite_vectors_stays_in_range():
    v = torch.randn(3, 5, generator=torch.Generator().manual_seed(14))
    vectors = {"a": v[0], "not a": -v[0], "short": 0.01 * v[1], "c": v[2]}
    names, matrix = attribute_correlation(vectors)
    rows = np.stack([vectors[n].double().numpy() for n in names])
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    np.testing.assert_allclose(matrix, unit @ unit.T, atol=1e-12)  # short vectors too
    assert matrix.max() <= 1.0 and matrix.min() >= -1.0  # rounding here gives 1 + 2e-16
    assert matrix[0, 1] == -1.0


def test_majority_baseline_on_skewed_labels():
    train = np.array([1] * 90 + [0] * 10)
    test = np.array([1] * 7 + [0] * 3)
    assert majority_baseline(train, test) == pytest.approx(0.7)
    assert majority_baseline(1 - train, test) == pytest.approx(0.3)
    classes = np.array([2] * 5 + [0] * 3 + [1] * 2)
    assert majority_baseline(classes, np.array([2, 2, 1, 0])) == pytest.approx(0.5)


def test_svm_on_skewed_labels_reports_the_baseline_and_learns_beyond_it():
    rng = np.random.default_rng(0)

    def split(n):
        y = (rng.random(n) < 0.2).astype(int)  # 80% negatives
        x = rng.normal(size=(n, 4)) + np.outer(y, [3.0, 0, 0, 0])
        return x, y

    (tx, ty), (vx, vy), (sx, sy) = split(300), split(100), split(200)
    result = linear_svm_accuracy(tx, ty, vx, vy, sx, sy, cs=(0.1, 1.0))
    assert result["majority_baseline"] == pytest.approx(np.mean(sy == 0))
    assert result["accuracy"] > result["majority_baseline"] + 0.1
    assert result["C"] in (0.1, 1.0)
    constant = linear_svm_accuracy(tx, np.zeros(300), vx, vy, sx, sy)
    assert constant["C"] is None and constant["accuracy"] == pytest.approx(np.mean(sy == 0))


def test_svm_accuracy_is_scikit_learn_s_at_the_chosen_c_and_ties_keep_the_first_c():
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(2)

    def split(n, shift):
        y = rng.integers(0, 2, n)
        return rng.normal(size=(n, 5)) + np.outer(y, [shift, 0.5, 0, 0, 0]), y

    (tx, ty), (vx, vy), (sx, sy) = split(200, 0.8), split(100, 0.8), split(150, 0.8)
    result = linear_svm_accuracy(tx, ty, vx, vy, sx, sy, cs=(1e-4,))
    scaler = StandardScaler().fit(tx)
    svm = LinearSVC(C=1e-4, max_iter=5000, random_state=0).fit(scaler.transform(tx), ty)
    assert result["C"] == 1e-4
    assert result["valid_accuracy"] == pytest.approx(svm.score(scaler.transform(vx), vy))
    assert result["accuracy"] == pytest.approx(svm.score(scaler.transform(sx), sy))
    # Far apart classes: every C is perfect on valid, and the first one listed is kept.
    (tx, ty), (vx, vy), (sx, sy) = split(100, 20.0), split(50, 20.0), split(50, 20.0)
    tied = linear_svm_accuracy(tx, ty, vx, vy, sx, sy, cs=(0.5, 0.01, 10.0))
    assert tied["valid_accuracy"] == 1.0 and tied["C"] == 0.5
    constant = linear_svm_accuracy(tx, np.ones(100), vx, vy, sx, sy)
    assert constant == {"accuracy": np.mean(sy == 1), "C": None, "valid_accuracy": None,
                        "majority_baseline": np.mean(sy == 1)}  # fmt: skip


def test_the_ssim_part_of_the_ssim_colour_loss_is_ssim_over_data_range_1():
    from dfcvae.vae.losses import ssim_colour_loss

    x, recon = images(3, seed=8), images(3, seed=9)
    by_hand = np.mean([ssim_by_hand(a[0].double().numpy(), b[0].double().numpy())
                       for a, b in zip(x, recon)])  # fmt: skip
    assert float(ssim_colour_loss(recon, x, colour_weight=0.0)) == pytest.approx(
        1 - by_hand, rel=1e-4
    )
    assert float(ssim_colour_loss(recon, x)) == float(ssim_colour_loss(recon, x, 1.0))


# --- What DFCVAELoss.forward hands back ------------------------------------------------------
# Relations between its terms and the loss functions, not their reductions (the presets' own
# business): the configured pixel loss, the loss network's feature term, the KL term and its
# warm-up weight.


def model_output(channels: int = 1):
    torch.manual_seed(0)
    model = DFCVAE(ModelConfig(image_size=32, channels=channels, latent_dim=4))
    x = torch.rand(3, channels, 32, 32)
    return x, model(x)


def test_the_configured_pixel_loss_is_used_for_pvae_and_mix():
    x, out = model_output()
    for preset in ("pvae-bce", "pvae"):
        terms = DFCVAELoss(config_from_preset(preset).loss)(x, out)
        kind = config_from_preset(preset).loss.pixel
        assert terms.reconstruction.item() == pytest.approx(
            pixel_loss(out.recon_logits, x, kind).item(), rel=1e-6
        )
    assert pixel_loss(out.recon_logits, x, "bce") != pixel_loss(out.recon_logits, x, "sse")
    mix = config_from_preset("vae-mix", {"loss": {"pixel": "bce"}}).loss
    terms = DFCVAELoss(mix, counting_network())(x, out)
    # vae-mix is seed 004's loss: the pixel term is a per-element mean, not a per-image sum.
    per_element = F.binary_cross_entropy_with_logits(out.recon_logits, x).item()
    assert terms.parts["pixel"].item() == pytest.approx(per_element, rel=1e-6)


class Counting(nn.Module):
    calls = 0

    def forward(self, x):
        Counting.calls += 1
        return x


def counting_network() -> LossNetwork:
    spec = LossNetworkSpec(name="count", description="identity that counts its calls",
                           layers={"x": 0}, build=lambda state: nn.Sequential(Counting()),
                           weights=None, min_size=1)  # fmt: skip
    return LossNetwork(spec, ["x"], None)


def test_a_feature_preset_asks_its_loss_network_for_the_reconstruction_term():
    x, out = model_output()
    Counting.calls = 0
    terms = DFCVAELoss(config_from_preset("vae-123").loss, counting_network())(x, out)
    assert Counting.calls == 2  # target and reconstruction features
    assert terms.parts == {} and torch.isfinite(terms.reconstruction)


def test_the_terms_hold_the_kl_and_the_warm_up_weight_of_the_step():
    x, out = model_output()
    config = config_from_preset("pvae", {"loss": {"kl_weight": 0.5, "kl_warmup_steps": 4}})
    loss = DFCVAELoss(config.loss)
    assert loss(x, out).alpha == 0.0  # the default step is the first one
    terms = loss(x, out, step=3)
    assert terms.alpha == pytest.approx(0.5 * 3 / 4)
    torch.testing.assert_close(terms.kl, kl_divergence(out.mu.float(), out.logvar.float()))
    expected = terms.alpha * terms.kl + config.loss.recon_weight * terms.reconstruction
    torch.testing.assert_close(terms.total, expected)


def test_a_one_step_warm_up_starts_at_zero():
    config = config_from_preset("pvae", {"loss": {"kl_weight": 2.0, "kl_warmup_steps": 1}})
    loss = DFCVAELoss(config.loss)
    assert [loss.alpha_at(step) for step in (0, 1, 5)] == [0.0, 2.0, 2.0]


def test_slerp_of_parallel_codes_whose_cosine_rounds_past_one_is_the_straight_line():
    v = torch.randn(1, 6, generator=torch.Generator().manual_seed(6)).double()
    for k in (3.0, -3.0):  # the unit codes' dot product rounds to 1 + 2e-16 and -1 - 2e-16
        path = slerp(v, k * v, 5)
        assert torch.isfinite(path).all()
        torch.testing.assert_close(path, lerp(v, k * v, 5))


def test_the_kl_term_of_one_image_is_torch_s_kl_summed_over_latent_dimensions():
    mu, logvar = torch.tensor([[0.5, -1.0, 2.0]]), torch.tensor([[0.3, -0.7, 0.0]])
    posterior = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    prior = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    expected = torch.distributions.kl_divergence(posterior, prior).sum()  # one image: any
    torch.testing.assert_close(kl_divergence(mu, logvar), expected)  # batch reduction agrees


def test_the_default_pixel_loss_is_the_squared_error():
    x, out = model_output()
    assert pixel_loss(out.recon_logits, x) == pixel_loss(out.recon_logits, x, "sse")


def test_the_ssim_colour_loss_uses_data_range_1_not_the_data_s():
    from dfcvae.vae.losses import ssim_colour_loss

    x, recon = 0.5 * images(2, seed=3), 0.5 * images(2, seed=4)  # values in [0, 0.5]
    by_hand = np.mean([ssim_by_hand(a[0].double().numpy(), b[0].double().numpy())
                       for a, b in zip(x, recon)])  # fmt: skip
    assert float(ssim_colour_loss(recon, x, 0.0)) == pytest.approx(1 - by_hand, rel=1e-4)


def test_layer_weights_and_the_loss_input_size_reach_the_feature_term():
    x, out = model_output()
    config = config_from_preset("vae-123").loss
    plain = DFCVAELoss(config, counting_network()).feature_term(x, out.recon)
    weighted = dataclasses.replace(config, layer_weights=[3.0])
    tripled = DFCVAELoss(weighted, counting_network()).feature_term(x, out.recon)
    torch.testing.assert_close(tripled, 3 * plain)
    sized = config_from_preset("vae-123", {"loss": {"loss_weights": "random",
                                                    "loss_input_size": 64}}).loss  # fmt: skip
    with pytest.warns(UserWarning, match="RANDOM weights"):
        assert DFCVAELoss(sized).loss_network.input_size == 64


def test_numbers_in_report_cells():
    from dfcvae.report.markup import fmt

    assert fmt(None) == "n/a" and fmt(1 / 3) == "0.3333" and fmt(2 / 3, 2) == "0.67"
    assert cells([1 / 3, 2 / 3, None], "higher") == [
        "<td>0.3333</td>",
        '<td class="best">0.6667</td>',
        "<td>n/a</td>",
    ]
    assert cells([1 / 3, 2 / 3], "lower", digits=2) == [
        '<td class="best">0.33</td>',
        "<td>0.67</td>",
    ]
