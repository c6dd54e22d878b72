"""The samplers: the fitted latent prior recovers a known mixture, round-trips through its file,
is fitted once per weights loaded (the final model's, each checkpoint's), and drives
``dfcvae sample``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture

from dfcvae.analysis import latent_prior, open_run
from dfcvae.analysis.fingerprint import weights_fingerprint
from dfcvae.analysis.latent_prior import (
    PRIOR_FILE,
    GaussianMixturePrior,
    PriorSettings,
    StandardPrior,
    fit_gaussian_mixture,
    fitted_prior,
    read_prior,
    save_prior,
)
from dfcvae.cli import main

MEANS = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0], [6.0, 6.0]])
WEIGHTS = np.array([0.4, 0.3, 0.2, 0.1])
COVARIANCES = np.array(
    [[[1.0, 0.5], [0.5, 1.0]], [[0.5, 0.0], [0.0, 2.0]], [[1.0, -0.3], [-0.3, 0.5]], np.eye(2)]
)


def known_mixture(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    components = rng.choice(len(WEIGHTS), size=n, p=WEIGHTS)
    return np.stack([rng.multivariate_normal(MEANS[k], COVARIANCES[k]) for k in components])


@pytest.fixture(scope="module")
def recovered() -> tuple[GaussianMixturePrior, dict[int, float]]:
    settings = PriorSettings(candidates=(1, 2, 4, 8))
    return fit_gaussian_mixture(known_mixture(4000, 0), known_mixture(2000, 1), settings)


def matched(prior: GaussianMixturePrior) -> np.ndarray:
    """For each true component, the index of the nearest fitted mean."""
    distances = np.linalg.norm(MEANS[:, None] - prior.means.numpy()[None], axis=-1)
    return distances.argmin(axis=1)


def test_the_fitted_density_recovers_a_known_mixture(recovered):
    prior, scores = recovered
    assert prior.weights.shape == (4,)  # the valid split chose the true component count
    assert max(scores, key=scores.get) == 4 and scores[4] > scores[2] > scores[1]
    order = matched(prior)
    assert sorted(order.tolist()) == [0, 1, 2, 3]
    np.testing.assert_allclose(prior.means.numpy()[order], MEANS, atol=0.15)
    np.testing.assert_allclose(prior.weights.numpy()[order], WEIGHTS, atol=0.03)
    covariances = (prior.cholesky @ prior.cholesky.transpose(1, 2)).numpy()[order]
    np.testing.assert_allclose(covariances, COVARIANCES, atol=0.2)


def test_draws_follow_the_stored_parameters_and_the_temperature(recovered):
    prior, _ = recovered
    z = prior.draw(20000, 1.0, torch.Generator().manual_seed(0)).double()
    nearest = torch.cdist(z, prior.means).argmin(dim=1)
    fractions = torch.bincount(nearest, minlength=4) / len(z)
    np.testing.assert_allclose(fractions.numpy(), prior.weights.numpy(), atol=0.02)
    same = prior.draw(50, 1.0, torch.Generator().manual_seed(3))
    assert torch.equal(same, prior.draw(50, 1.0, torch.Generator().manual_seed(3)))
    at_zero = prior.draw(50, 0.0, torch.Generator().manual_seed(3)).double()
    assert torch.cdist(at_zero, prior.means).min(dim=1).values.max() < 1e-5  # T = 0: the means
    # T scales each component's spread about its own mean
    half = prior.draw(50, 0.5, torch.Generator().manual_seed(3)).double()
    torch.testing.assert_close(half - at_zero, 0.5 * (same.double() - at_zero), atol=1e-5, rtol=0)


def test_log_density_agrees_with_sklearn(recovered):
    prior, _ = recovered
    reference = GaussianMixture(n_components=4, covariance_type="full")
    reference.weights_ = prior.weights.numpy()
    reference.means_ = prior.means.numpy()
    reference.covariances_ = (prior.cholesky @ prior.cholesky.transpose(1, 2)).numpy()
    reference.precisions_cholesky_ = np.linalg.cholesky(np.linalg.inv(reference.covariances_))
    points = known_mixture(100, 5)
    np.testing.assert_allclose(
        prior.log_density(torch.from_numpy(points)).numpy(),
        reference.score_samples(points),
        rtol=1e-9,
    )


def test_the_stored_file_round_trips(recovered, tmp_path):
    prior, scores = recovered
    info = {"components": 4, "valid_log_likelihood": {str(k): v for k, v in scores.items()}}
    path = save_prior(tmp_path / "analysis" / "prior.safetensors", prior, info)
    again, info_again = read_prior(path)
    assert info_again == info
    for name in ("weights", "means", "cholesky"):
        assert torch.equal(getattr(again, name), getattr(prior, name))
    generator = torch.Generator().manual_seed(7)
    assert torch.equal(
        again.draw(10, 0.8, generator), prior.draw(10, 0.8, generator.manual_seed(7))
    )
    assert not list(path.parent.glob(".*.tmp"))  # written atomically


def test_the_standard_sampler_is_the_papers_prior():
    generator = torch.Generator().manual_seed(0)
    z = StandardPrior(5).draw(4, 0.4, generator)
    torch.testing.assert_close(z, 0.4 * torch.randn(4, 5, generator=generator.manual_seed(0)))


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    """The tiny run's config and weights only: no density that another test fitted."""
    import shutil

    from dfcvae.files import CONFIG_FILE, MODEL_FILE

    (tmp_path / "run").mkdir()
    for name in (CONFIG_FILE, MODEL_FILE):
        shutil.copy(tiny_run / name, tmp_path / "run" / name)
    return tmp_path / "run"


def test_fitted_once_then_read_back_at_least_five_times_faster(run_copy, monkeypatch):
    fits = []
    real_fit = latent_prior.fit_gaussian_mixture
    monkeypatch.setattr(
        latent_prior, "fit_gaussian_mixture", lambda *a: fits.append(1) or real_fit(*a)
    )
    from dfcvae.analysis import open_run

    run = open_run(run_copy)
    started = time.perf_counter()
    first = fitted_prior(run, progress=False)
    fitting = time.perf_counter() - started
    started = time.perf_counter()
    second = fitted_prior(run, progress=False)
    reading = time.perf_counter() - started
    assert len(fits) == 1 and (run_copy / PRIOR_FILE).is_file()
    assert torch.equal(first.means, second.means)
    assert fitting >= 5 * reading, (fitting, reading)
    _, info = read_prior(run_copy / PRIOR_FILE)
    assert info["latent_dim"] == 16 and info["components"] == first.weights.shape[0]
    assert info["settings"] == PriorSettings().to_dict()
    assert set(info["valid_log_likelihood"]) >= {"1", "2"}


def test_a_retrained_run_fits_its_prior_again(run_copy, monkeypatch):
    from dfcvae.saved.model_files import load_run, save_model

    fitted_prior(run_copy, progress=False)
    stale = read_prior(run_copy / PRIOR_FILE)[1]["weights_sha256"]
    model, config = load_run(run_copy)  # "retrain": other weights in the same run directory
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    save_model(run_copy, model, config)
    fits = []
    real_fit = latent_prior.fit_gaussian_mixture
    monkeypatch.setattr(
        latent_prior, "fit_gaussian_mixture", lambda *a: fits.append(1) or real_fit(*a)
    )
    fitted_prior(run_copy, progress=False)
    assert fits == [1]
    fresh = read_prior(run_copy / PRIOR_FILE)[1]["weights_sha256"]
    assert fresh == weights_fingerprint(load_run(run_copy)[0]) != stale
    fitted_prior(run_copy, progress=False)
    assert fits == [1]


def counted_fits(monkeypatch) -> list[int]:
    """One entry per Gaussian mixture fitted from now on."""
    fits: list[int] = []
    real_fit = latent_prior.fit_gaussian_mixture
    monkeypatch.setattr(
        latent_prior, "fit_gaussian_mixture", lambda *a: fits.append(1) or real_fit(*a)
    )
    return fits


def test_an_interrupted_run_samples_from_its_checkpoint_s_fitted_prior(tiny_run, tmp_path):
    """config.json and checkpoints/last.ckpt only (training stopped after the first epoch):
    the default sampler, fitted, works and keys its density by the checkpoint's weights."""
    import shutil

    from dfcvae.analysis import sample
    from dfcvae.analysis.latents import decode
    from dfcvae.files import CONFIG_FILE

    run = tmp_path / "interrupted"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(tiny_run / CONFIG_FILE, run / CONFIG_FILE)
    shutil.copy(tiny_run / "checkpoints" / EARLY, run / "checkpoints" / "last.ckpt")
    out = tmp_path / "s.png"
    argv = ["sample", str(run), "--checkpoint", "last.ckpt", "--n", "4", "-o", str(out), "--quiet"]
    assert main(argv) == 0 and out.is_file()
    kept = list((run / "analysis").glob("latent_prior*.safetensors"))
    assert len(kept) == 1 and not (run / PRIOR_FILE).exists()
    opened = open_run(run, checkpoint="last.ckpt")
    prior, info = read_prior(kept[0])
    assert info["weights_sha256"] == weights_fingerprint(opened.model)
    assert info["checkpoint"] == str(run / "checkpoints" / "last.ckpt")
    images = sample(opened, 4, seed=3, progress=False)  # read back: the stored mixture's draws
    z = prior.draw(4, 1.0, torch.Generator().manual_seed(3))
    torch.testing.assert_close(images, decode(opened.model, z))


EARLY = "epoch000-step0000016.ckpt"  # the tiny run's first epoch; its last.ckpt is the final model


def perturbed_checkpoint(source, target) -> None:
    """A copy of the checkpoint ``source`` whose VAE weights have noise added: other weights."""
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    generator = torch.Generator().manual_seed(0)
    for key, value in checkpoint["state_dict"].items():
        if key.startswith("vae.") and value.is_floating_point():
            value.add_(0.05 * torch.randn(value.shape, generator=generator))
    torch.save(checkpoint, target)


def test_each_checkpoint_gets_its_own_density_and_the_final_model_s_is_kept(
    run_copy, tiny_run, monkeypatch
):
    import shutil

    shutil.copytree(tiny_run / "checkpoints", run_copy / "checkpoints")
    perturbed_checkpoint(run_copy / "checkpoints" / EARLY, run_copy / "checkpoints" / "other.ckpt")
    final = fitted_prior(run_copy, progress=False)
    final_bytes = (run_copy / PRIOR_FILE).read_bytes()
    fits = counted_fits(monkeypatch)
    early = fitted_prior(open_run(run_copy, checkpoint=EARLY), progress=False)
    other = fitted_prior(open_run(run_copy, checkpoint="other.ckpt"), progress=False)
    assert fits == [1, 1]
    kept = sorted((run_copy / "analysis").glob("latent_prior-*.safetensors"))
    assert len(kept) == 2  # one file per checkpoint, named by its weights
    checkpoints = {read_prior(path)[1]["checkpoint"] for path in kept}
    assert {Path(name).name for name in checkpoints} == {EARLY, "other.ckpt"}
    assert not torch.equal(early.means, other.means) and not torch.equal(early.means, final.means)
    assert (run_copy / PRIOR_FILE).read_bytes() == final_bytes  # the final model's is untouched
    assert torch.equal(fitted_prior(run_copy, progress=False).means, final.means)
    again = fitted_prior(open_run(run_copy, checkpoint=EARLY), progress=False)
    assert torch.equal(again.means, early.means) and fits == [1, 1]  # read back, not fitted
    # last.ckpt holds the final model's weights: it reads the final model's density
    last = open_run(run_copy, checkpoint="last.ckpt")
    assert weights_fingerprint(last.model) == weights_fingerprint(open_run(run_copy).model)
    assert torch.equal(fitted_prior(last, progress=False).means, final.means)
    assert fits == [1, 1] and len(list((run_copy / "analysis").glob("latent_prior*"))) == 3


def test_sample_command_with_the_fitted_sampler(run_copy, tmp_path, capsys):
    out = tmp_path / "s.png"
    argv = ["sample", str(run_copy), "--n", "4", "--sampler", "fitted", "-o", str(out), "--quiet"]
    assert main(argv) == 0
    assert out.is_file() and (run_copy / PRIOR_FILE).is_file()
    with pytest.raises(SystemExit) as stopped:
        main(["sample", str(run_copy), "--sampler", "gmm"])
    assert stopped.value.code == 2
    assert "--sampler: invalid choice: 'gmm'" in capsys.readouterr().err


def test_model_sample_takes_a_sampler(tiny_run):
    from dfcvae.analysis import open_run

    model = open_run(tiny_run).model
    default = model.sample(3, 0.5, torch.Generator().manual_seed(1))
    standard = StandardPrior(16)
    same = model.sample(3, 0.5, torch.Generator().manual_seed(1), sampler=standard)
    torch.testing.assert_close(default, same)
    means = torch.zeros(1, 16, dtype=torch.float64)
    point = GaussianMixturePrior(
        torch.ones(1, dtype=torch.float64), means, torch.eye(16)[None].double()
    )
    at_mean = model.sample(2, 0.0, torch.Generator().manual_seed(1), sampler=point)
    torch.testing.assert_close(at_mean, model.sample(2, 0.0, torch.Generator().manual_seed(9)))


def test_the_command_line_spells_the_samplers_and_the_default_as_the_library() -> None:
    from dfcvae.analysis.latent_prior import DEFAULT_SAMPLER, SAMPLERS
    from dfcvae.cli import build_parser, command_parser

    parser = build_parser()
    for command in ("sample", "interpolate"):
        (option,) = (
            a for a in command_parser(parser, command)._actions if "--sampler" in a.option_strings
        )
        assert tuple(option.choices) == SAMPLERS
        assert f"default {DEFAULT_SAMPLER}" in option.help
