"""``evaluate``: compare runs on the same test images, with numbers a reader can trust.

Per run: reconstruction MSE, PSNR and SSIM; blur (Laplacian variance) of the reconstructions and
of samples, beside the originals'; the KL per image and the number of active latent units
(``dfcvae.collapse``), so that a collapsed posterior is never silent; LPIPS when its weights are
here; Fréchet distances between real test images and samples (and reconstructions) in each
available feature space, each named by its space. Between runs: paired t-tests on the same
images. Metrics that cannot be computed are listed under ``unavailable`` with the reason, never
dropped silently.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import ttest_ind
from tqdm.auto import tqdm

from dfcvae.analysis.feature_spaces import (
    FeatureSpace,
    FeatureSpaceUnavailable,
    classifier_space,
    inception_space,
    mobilenet_v2_space,
)
from dfcvae.analysis.frechet import frechet_distance
from dfcvae.analysis.grids import prior_codes
from dfcvae.analysis.latents import decode, encode_posterior
from dfcvae.analysis.lpips import lpips_network, lpips_per_image
from dfcvae.analysis.quality import (
    laplacian_variance,
    mse_per_image,
    paired_t_test,
    psnr_per_image,
    ssim_per_image,
)
from dfcvae.analysis.runs import (
    Run,
    RunLike,
    check_split,
    choose_indices,
    open_run,
    run_names,
    stack_images,
)
from dfcvae.collapse import ACTIVE_THRESHOLD, active_units, kl_per_image
from dfcvae.errors import ConfigError

FEATURE_SPACES = ("inception", "mobilenet_v2", "classifier")

# Per-image metrics: (description, which way is better).
METRICS: dict[str, tuple[str, str]] = {
    "mse": ("reconstruction mean squared error", "lower"),
    "psnr": ("reconstruction PSNR (dB)", "higher"),
    "ssim": ("reconstruction SSIM", "higher"),
    "lpips": ("reconstruction LPIPS (AlexNet)", "lower"),
    "blur_reconstructions": ("Laplacian variance of reconstructions (sharpness)", "higher"),
    "blur_samples": ("Laplacian variance of samples (sharpness)", "higher"),
    "kl": ("KL divergence per image (nats)", "neither"),
}
PAIRED = ("mse", "psnr", "ssim", "lpips", "blur_reconstructions")


def check_same_data(runs: Sequence[Run], names: Sequence[str]) -> None:
    """Runs are compared on the same images: same data set, crop, size and channels."""

    def key(run: Run) -> tuple:
        d, m = run.config.data, run.config.model
        return (d.dataset, d.root, d.crop, d.labels_file, m.image_size, m.channels)

    first = key(runs[0])
    for run, name in zip(runs[1:], names[1:], strict=True):
        if key(run) != first:
            raise ConfigError(
                f"{name} was trained on other data ({key(run)[0]}, {key(run)[4]}px, "
                f"{key(run)[5]} channels) than {names[0]} ({first[0]}, {first[4]}px, "
                f"{first[5]} channels): evaluate compares runs on the same test images"
            )


def classifier_users(runs: Sequence[Run], names: Sequence[str]) -> dict[str, str]:
    """Run name -> the classifier folder it uses as its loss network, for runs that do."""
    users = {}
    for run, name in zip(runs, names, strict=True):
        loss = run.config.loss
        if loss.uses_loss_network and loss.loss_network == "classifier" and loss.loss_weights:
            users[name] = loss.loss_weights
    return users


def same_path(a: str | Path, b: str | Path) -> bool:
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def build_feature_spaces(
    wanted: Sequence[str], classifier: str | Path | None, device: torch.device
) -> tuple[dict[str, FeatureSpace], dict[str, str]]:
    """The available feature spaces, and the reason for each unavailable one."""
    spaces: dict[str, FeatureSpace] = {}
    unavailable: dict[str, str] = {}
    for name in wanted:
        if name not in FEATURE_SPACES:
            raise ConfigError(
                f"feature space {name!r} is unknown: choose from {', '.join(FEATURE_SPACES)}"
            )
        try:
            if name == "inception":
                spaces[name] = inception_space(device)
            elif name == "mobilenet_v2":
                spaces[name] = mobilenet_v2_space(device)
            elif classifier is None:
                raise FeatureSpaceUnavailable(
                    "no classifier: pass one made by `dfcvae train-classifier` (--classifier DIR)"
                )
            else:
                spaces[name] = classifier_space(classifier, device)
        except FeatureSpaceUnavailable as error:
            unavailable[f"frechet_{name}"] = str(error)
    return spaces, unavailable


def extract(space: FeatureSpace, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([space.extract(chunk) for chunk in images.split(batch_size)])


def summary(values: torch.Tensor | np.ndarray) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()), "std": float(array.std(ddof=1)) if array.size > 1 else 0.0}


def welch_t_test(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Unpaired (Welch) t-test, for samples, which share no images between runs."""
    result = ttest_ind(a, b, equal_var=False)
    return {
        "t": float(result.statistic),
        "p": float(result.pvalue),
        "mean_difference": float(np.mean(a) - np.mean(b)),
        "n": int(min(len(a), len(b))),
    }


def evaluate(
    run_dirs: Sequence[RunLike],
    split: str = "test",
    n: int = 1000,
    *,
    temperature: float = 1.0,
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

    Samples: as many as images, z ~ N(0, T^2 I) from seed ``seed + 1``. classifier: a
    ``train-classifier`` folder for the classifier feature space; default the one a run uses as
    its loss network (which favours that run in that space: the result says so).
    Returns a JSON-ready dict (NaN written as None): see the module docstring and ``METRICS``.
    """
    check_split(split)
    if not run_dirs:
        raise ConfigError("evaluate needs at least one run directory")
    runs = [open_run(run, device) for run in run_dirs]
    names = run_names([run.run_dir for run in runs])
    check_same_data(runs, names)
    dataset = runs[0].dataset(split, limit=limit, progress=progress)
    indices = choose_indices(len(dataset), n, seed)
    if len(indices) < 2:
        raise ConfigError(f"--n {n}: evaluate needs at least 2 images to compare")
    originals = stack_images(dataset, indices)
    device_ = runs[0].device

    notes: list[str] = []
    users = classifier_users(runs, names) if "classifier" in feature_spaces else {}
    if classifier is None and users:
        classifier = next(iter(users.values()))
    spaces, unavailable = build_feature_spaces(feature_spaces, classifier, device_)
    favoured = [name for name, folder in users.items() if same_path(folder, classifier)]
    if favoured and "classifier" in spaces:
        notes.append(
            f"the classifier feature space is the loss network of {', '.join(favoured)}, which "
            "favours it there; compare with the other feature spaces too"
        )
    lpips_net = None
    if use_lpips:
        try:
            lpips_net = lpips_network(device_)
        except FeatureSpaceUnavailable as error:
            unavailable["lpips"] = str(error)
    if "inception" not in spaces and "inception" in feature_spaces:
        notes.append("no Inception FID here: Fréchet distances are named by their feature space")

    real_features = {name: extract(space, originals, batch_size) for name, space in spaces.items()}
    per_image: dict[str, dict[str, list[float]]] = {
        "originals": {"blur": laplacian_variance(originals).tolist()}
    }
    results: dict[str, dict[str, Any]] = {}
    pairs = list(zip(runs, names, strict=True))
    for run, name in tqdm(pairs, desc="evaluating runs", disable=not progress):
        mu, logvar = encode_posterior(run.model, originals, batch_size)
        recon = decode(run.model, mu, batch_size)
        z = prior_codes(len(indices), run.config.model.latent_dim, temperature, seed + 1)
        samples = decode(run.model, z, batch_size)
        values = {
            "mse": mse_per_image(recon, originals),
            "psnr": psnr_per_image(recon, originals),
            "ssim": ssim_per_image(recon, originals),
            "blur_reconstructions": laplacian_variance(recon),
            "blur_samples": laplacian_variance(samples),
            "kl": kl_per_image(mu, logvar),
        }
        if lpips_net is not None:
            chunks = zip(recon.split(batch_size), originals.split(batch_size), strict=True)
            values["lpips"] = torch.cat([lpips_per_image(lpips_net, r, o) for r, o in chunks])
        frechet = {}
        for space_name, space in spaces.items():
            real = real_features[space_name]
            frechet[space_name] = {
                "samples": frechet_distance(real, extract(space, samples, batch_size)),
                "reconstructions": frechet_distance(real, extract(space, recon, batch_size)),
            }
        config = run.config
        results[name] = {
            "run_dir": str(run.run_dir),
            "preset": config.preset,
            "reconstruction": config.loss.reconstruction,
            "loss_network": config.loss.loss_network if config.loss.uses_loss_network else None,
            "layers": list(config.loss.layers) if config.loss.uses_loss_network else None,
            **{metric: summary(v) for metric, v in values.items()},
            "active_units": active_units(mu),
            "latent_dim": int(mu.shape[1]),
            "frechet": frechet,
        }
        per_image[name] = {metric: v.tolist() for metric, v in values.items()}

    t_tests = []
    for a, b in itertools.combinations(names, 2):
        for metric in PAIRED:
            if metric in per_image[a] and metric in per_image[b]:
                test = paired_t_test(per_image[a][metric], per_image[b][metric])
                t_tests.append({"metric": metric, "a": a, "b": b, "test": "paired", **test})
        test = welch_t_test(
            np.asarray(per_image[a]["blur_samples"]), np.asarray(per_image[b]["blur_samples"])
        )
        t_tests.append({"metric": "blur_samples", "a": a, "b": b, "test": "welch", **test})
    original_blur = per_image["originals"]["blur"]
    for name in names:
        test = paired_t_test(per_image[name]["blur_reconstructions"], original_blur)
        t_tests.append({"metric": "blur_reconstructions", "a": name, "b": "originals",
                        "test": "paired", **test})  # fmt: skip

    return json_ready(
        {
            "split": split,
            "n": len(indices),
            "seed": seed,
            "temperature": temperature,
            "dataset": runs[0].config.data.dataset,
            "image_size": runs[0].config.model.image_size,
            "indices": indices,
            "originals": {"blur": summary(per_image["originals"]["blur"])},
            "active_threshold": ACTIVE_THRESHOLD,
            "runs": results,
            "feature_spaces": {
                name: {"description": space.description, "weights": space.source}
                for name, space in spaces.items()
            },
            "metrics": {name: {"description": d, "better": b} for name, (d, b) in METRICS.items()},
            "unavailable": unavailable,
            "notes": notes,
            "t_tests": t_tests,
            "per_image": per_image,
        }
    )


def json_ready(value: Any) -> Any:
    """NaN and infinities become None, so the result is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    return value
