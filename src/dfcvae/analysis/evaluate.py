"""``evaluate``: compare runs on the same test images, with numbers a reader can trust.

Per run: reconstruction MSE, PSNR and SSIM; sharpness (Laplacian variance) of the reconstructions
and of samples, beside the originals'; the KL per image and the number of active latent units
(``dfcvae.vae.collapse``), so that a collapsed posterior is never silent; LPIPS when its weights are
here; Fréchet distances between real test images and samples (and reconstructions) in each
available feature space, each named by its space. Samples come from each sampler of
``samplers`` (``latent_prior``: the paper's N(0, T^2 I) and the density fitted to the train
codes): per sampler, their sharpness, Fréchet distance and precision/recall (Kynkäänniemi et al.,
2019) in each feature space; the top-level sample metrics are the default sampler's. Between
runs: paired t-tests on the same images, and Welch tests of the samples' sharpness, one per
sampler (the same sampler for both runs). Metrics that cannot be computed are listed under
``unavailable`` with the reason, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from dfcvae.analysis.comparison import check_same_data, summary, t_tests
from dfcvae.analysis.grids import sampler_codes
from dfcvae.analysis.latent_prior import DEFAULT_SAMPLER, SAMPLERS, check_sampler, make_sampler
from dfcvae.analysis.latents import decode, encode_posterior
from dfcvae.analysis.metrics_file import json_ready
from dfcvae.analysis.quality import (
    laplacian_variance,
    mse_per_image,
    psnr_per_image,
    ssim_per_image,
)
from dfcvae.analysis.runs import Run, RunLike, open_run, run_names
from dfcvae.analysis.scorers import FEATURE_SPACES, Scorers, extract
from dfcvae.analysis.selection import check_split, choose_indices, stack_images
from dfcvae.errors import ConfigError
from dfcvae.vae.collapse import ACTIVE_THRESHOLD, active_units, kl_per_image

# Per-image metrics: (description, which way is better).
METRICS: dict[str, tuple[str, str]] = {
    "mse": ("reconstruction mean squared error", "lower"),
    "psnr": ("reconstruction PSNR (dB)", "higher"),
    "ssim": ("reconstruction SSIM", "higher"),
    "lpips": ("reconstruction LPIPS (AlexNet)", "lower"),
    "sharpness_reconstructions": ("Laplacian variance of reconstructions (sharpness)", "higher"),
    **{
        f"sharpness_samples_{name}": (f"Laplacian variance of {name} samples (sharpness)", "higher")
        for name in SAMPLERS
    },
    "kl": ("KL divergence per image (nats)", "neither"),
}
PAIRED = ("mse", "psnr", "ssim", "lpips", "sharpness_reconstructions")
WELCH = tuple(f"sharpness_samples_{name}" for name in SAMPLERS)


def evaluate(
    run_dirs: Sequence[RunLike],
    split: str = "test",
    n: int = 1000,
    *,
    temperature: float = 1.0,
    samplers: Sequence[str] = SAMPLERS,
    feature_spaces: Sequence[str] = FEATURE_SPACES,
    classifier: str | Path | None = None,
    use_lpips: bool = True,
    limit: int | None = None,
    device: str = "cpu",
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Compare runs on the same ``n`` images of ``split`` (a seeded choice shared by all runs).

    Samples: as many as images from each sampler of ``samplers`` at temperature T, from seed
    ``seed + 1`` (``fitted``: fitted once per run, see ``latent_prior``). classifier: a
    ``train-classifier`` folder for the classifier feature space; default the one a run uses as
    its loss network (which favours that run in that space: the result says so).
    Returns a JSON-ready dict (NaN written as None): see the module docstring and ``METRICS``.
    """
    check_split(split)
    if not run_dirs:
        raise ConfigError("evaluate needs at least one run directory")
    samplers, default = choose_samplers(samplers)
    runs = [open_run(run, device) for run in run_dirs]
    names = run_names([run.run_dir for run in runs])
    check_same_data(runs, names)
    indices, originals = choose_images(runs[0], split, n, limit, seed, progress)
    scorers = Scorers.build(runs, names, feature_spaces, classifier, use_lpips)
    real_features = {
        name: extract(space, originals, batch_size) for name, space in scorers.spaces.items()
    }
    per_image = {"originals": {"sharpness": laplacian_variance(originals).tolist()}}
    results: dict[str, dict[str, Any]] = {}
    pairs = list(zip(runs, names, strict=True))
    for run, name in tqdm(pairs, desc="evaluating runs", disable=not progress):
        samples = draw_samples(run, samplers, len(indices), temperature, seed + 1, batch_size)
        results[name], values = evaluate_run(
            run, originals, samples, default, scorers, real_features, batch_size
        )
        per_image[name] = {metric: v.tolist() for metric, v in values.items()}
    return json_ready(
        {
            **setting(runs[0], split, indices, seed, temperature, samplers, default),
            "originals": {"sharpness": summary(per_image["originals"]["sharpness"])},
            "active_threshold": ACTIVE_THRESHOLD,
            "runs": results,
            "feature_spaces": scorers.described(),
            "metrics": {name: {"description": d, "better": b} for name, (d, b) in METRICS.items()},
            "unavailable": scorers.unavailable,
            "notes": scorers.notes,
            "t_tests": t_tests(names, per_image, PAIRED, WELCH),
            "per_image": per_image,
        }
    )


def choose_samplers(samplers: Sequence[str]) -> tuple[list[str], str]:
    """The distinct samplers, checked, and the one whose samples fill the top-level metrics:
    ``DEFAULT_SAMPLER`` when among them, else the first."""
    chosen = [check_sampler(name) for name in dict.fromkeys(samplers)]
    if not chosen:
        raise ConfigError("evaluate needs at least one sampler")
    return chosen, DEFAULT_SAMPLER if DEFAULT_SAMPLER in chosen else chosen[0]


def evaluate_run(
    run: Run,
    originals: torch.Tensor,
    samples: dict[str, torch.Tensor],
    default: str,
    scorers: Scorers,
    real_features: dict[str, torch.Tensor],
    batch_size: int,
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """One run's entry of ``evaluate``'s ``runs`` and its per-image values. samples: sampler ->
    its images; the top-level sample metrics are those of ``default``."""
    mu, logvar = encode_posterior(run.model, originals, batch_size)
    recon = decode(run.model, mu, batch_size)
    values = per_image_values(originals, recon, samples[default], mu, logvar)
    for sampler, images in samples.items():
        values[f"sharpness_samples_{sampler}"] = laplacian_variance(images)
    values.update(scorers.lpips(recon, originals, batch_size))
    quality = {
        sampler: scorers.sample_scores(real_features, images, batch_size)
        for sampler, images in samples.items()
    }
    frechet = scorers.frechet(real_features, recon, batch_size)
    for space, scores in quality[default].items():
        frechet[space]["samples"] = scores["frechet"]
    result = run_result(run, values, mu, frechet)
    result["samplers"] = {
        sampler: {
            "sharpness": summary(values[f"sharpness_samples_{sampler}"]),
            "feature_spaces": scores,
        }
        for sampler, scores in quality.items()
    }
    return result, values


def draw_samples(
    run: Run, samplers: Sequence[str], n: int, temperature: float, seed: int, batch_size: int
) -> dict[str, torch.Tensor]:
    """Sampler -> ``n`` images decoded from its codes, every sampler from the same seed."""
    device = str(run.device)
    made = {name: make_sampler(run, name, device=device) for name in samplers}
    return {
        name: decode(run.model, sampler_codes(sampler, n, temperature, seed), batch_size)
        for name, sampler in made.items()
    }


def choose_images(
    run: Run, split: str, n: int, limit: int | None, seed: int, progress: bool
) -> tuple[list[int], torch.Tensor]:
    """The indices of ``n`` images of ``split`` (a seeded choice) and the images."""
    dataset = run.dataset(split, limit=limit, progress=progress)
    indices = choose_indices(len(dataset), n, seed)
    if len(indices) < 2:
        raise ConfigError(f"--n {n}: evaluate needs at least 2 images to compare")
    return indices, stack_images(dataset, indices)


def setting(
    run: Run,
    split: str,
    indices: list[int],
    seed: int,
    temperature: float,
    samplers: list[str],
    default: str,
) -> dict[str, Any]:
    """What ``evaluate``'s result was computed on: the images and the samples' settings."""
    return {
        "samplers": samplers,
        "default_sampler": default,
        "split": split,
        "n": len(indices),
        "seed": seed,
        "temperature": temperature,
        "dataset": run.config.data.dataset,
        "image_size": run.config.model.image_size,
        "indices": indices,
    }


def per_image_values(
    originals: torch.Tensor,
    recon: torch.Tensor,
    samples: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Metric -> (N,) values of one run on the chosen images (see ``METRICS``)."""
    return {
        "mse": mse_per_image(recon, originals),
        "psnr": psnr_per_image(recon, originals),
        "ssim": ssim_per_image(recon, originals),
        "sharpness_reconstructions": laplacian_variance(recon),
        "sharpness_samples": laplacian_variance(samples),
        "kl": kl_per_image(mu, logvar),
    }


def run_result(
    run: Run, values: dict[str, torch.Tensor], mu: torch.Tensor, frechet: dict[str, Any]
) -> dict[str, Any]:
    """One run's entry of ``evaluate``'s ``runs``: what it is, then the mean and sd of each
    per-image metric, its active units and its Fréchet distances."""
    loss = run.config.loss
    return {
        "run_dir": str(run.run_dir),
        "preset": run.config.preset,
        "reconstruction": loss.reconstruction,
        "loss_network": loss.loss_network if loss.uses_loss_network else None,
        "layers": list(loss.layers) if loss.uses_loss_network else None,
        **{metric: summary(v) for metric, v in values.items()},
        "active_units": active_units(mu),
        "latent_dim": int(mu.shape[1]),
        "frechet": frechet,
    }
