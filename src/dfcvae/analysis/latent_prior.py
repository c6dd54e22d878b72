"""Where random samples come from: the paper's prior, or a density fitted to the codes.

Two samplers, each an object with ``draw(n, temperature, generator) -> (n, latent_dim)``:

- ``standard``: z ~ N(0, T^2 I), the paper's prior, unchanged.
- ``fitted``: a Gaussian mixture with full covariances fitted once to mu of the train split
  (an ex-post density, as in pythae's ``GaussianMixtureSampler`` and Ghosh et al., 2020). Its
  component count is the candidate with the highest mean log-likelihood of the valid split's
  mu. A DFC-VAE keeps far more KL per image than a PVAE, so its aggregate posterior lies far from
  N(0, I), and draws from N(0, I) decode from regions that no training image occupies.

Temperature, for the mixture: each component's covariance is scaled by T^2 about its own mean,
z = mean_k + T L_k eps with L_k the Cholesky factor of covariance_k; T = 1 draws from the fitted
density, T = 0 gives the component means. The weights are unchanged.

The mixture is stored in ``RUN/analysis/`` (beside the attribute vectors), written atomically:
weights, means and Cholesky factors as tensors, and in the header, as JSON, the settings that
produced it, the valid log-likelihood of each candidate and the SHA-256 of the weights it was
fitted for (``fingerprint.weights_fingerprint``: the weights as loaded, whichever file they came
from). The final model's density is ``latent_prior.safetensors``; a run opened from a Lightning
checkpoint (``--checkpoint``, an interrupted run) keeps its own, ``latent_prior-<first 16 hex
digits of its weights' SHA-256>.safetensors``, so a checkpoint never overwrites the final
model's density nor another checkpoint's; a checkpoint with the final model's weights reads the
final model's. Retrained weights or other settings fit again; drawing needs only torch, never
sklearn or a pickle.
"""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from safetensors import SafetensorError, safe_open

from dfcvae.analysis.fingerprint import weights_fingerprint
from dfcvae.analysis.latents import encode
from dfcvae.analysis.runs import Run, RunLike, open_run
from dfcvae.analysis.selection import choose_indices, stack_images
from dfcvae.errors import ConfigError, RunDirError
from dfcvae.files import read_tensors, write_tensors

SAMPLERS = ("standard", "fitted")
# Chosen from the measurements in docs/samples.md (the rule is written there).
DEFAULT_SAMPLER = "fitted"
PRIOR_FILE = Path("analysis") / "latent_prior.safetensors"
# A checkpoint's density: named by its weights' fingerprint (its first 16 hex digits).
CHECKPOINT_PRIOR_FILE = "latent_prior-{fingerprint}.safetensors"
INFO_KEY = "latent_prior"
FORMAT = 2  # 2: keyed by the weights loaded (weights_sha256), not by the model file's bytes


class Sampler(Protocol):
    """What ``sample`` and ``DFCVAE.sample`` draw codes from."""

    def draw(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor: ...


@dataclass(frozen=True)
class PriorSettings:
    """How the fitted density is made. candidates: component counts tried in increasing order
    (the search stops at the first one whose valid log-likelihood is lower than the one before);
    max_codes: train (and valid) images encoded for the fit, a seeded choice; reg_covar: added
    to each covariance's diagonal; max_iter: EM iterations per candidate."""

    candidates: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    max_codes: int = 10000
    reg_covar: float = 1e-4
    max_iter: int = 100
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "candidates": list(self.candidates)}


@dataclass
class StandardPrior:
    """The paper's prior N(0, T^2 I) over ``latent_dim`` dimensions."""

    latent_dim: int
    name: str = "standard"

    def draw(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """(n, latent_dim) float32 codes."""
        return torch.randn(n, self.latent_dim, generator=generator) * temperature


@dataclass
class GaussianMixturePrior:
    """A Gaussian mixture: weights (K,), means (K, D), cholesky (K, D, D) lower-triangular
    factors of the covariances; float64."""

    weights: torch.Tensor
    means: torch.Tensor
    cholesky: torch.Tensor
    name: str = "fitted"

    @property
    def latent_dim(self) -> int:
        return int(self.means.shape[1])

    def draw(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """(n, D) float32 codes: a component k by weight, then mean_k + T L_k eps."""
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.latent_dim, 1, generator=generator, dtype=torch.float64)
        offset = (self.cholesky[component] @ eps).squeeze(-1)
        return (self.means[component] + temperature * offset).float()

    def log_density(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) under the mixture (at T = 1): (N, D) -> (N,) float64."""
        z = z.double()
        diff = z.unsqueeze(1) - self.means.unsqueeze(0)  # (N, K, D)
        lower = self.cholesky.unsqueeze(0).expand(z.shape[0], -1, -1, -1)
        solved = torch.linalg.solve_triangular(lower, diff.unsqueeze(-1), upper=False)
        mahalanobis = solved.squeeze(-1).pow(2).sum(-1)  # (N, K)
        log_det = 2 * torch.log(torch.diagonal(self.cholesky, dim1=-2, dim2=-1)).sum(-1)
        log_normal = -0.5 * (mahalanobis + log_det + self.latent_dim * np.log(2 * np.pi))
        return torch.logsumexp(torch.log(self.weights) + log_normal, dim=1)


def fit_gaussian_mixture(
    train: np.ndarray | torch.Tensor,
    valid: np.ndarray | torch.Tensor,
    settings: PriorSettings = PriorSettings(),
) -> tuple[GaussianMixturePrior, dict[int, float]]:
    """A full-covariance Gaussian mixture fitted to ``train`` codes (N, D), its component count
    chosen by the mean log-likelihood of ``valid`` codes (M, D). Returns the mixture and each
    tried candidate's valid log-likelihood per code."""
    from sklearn.mixture import GaussianMixture

    train, valid = _as_array(train), _as_array(valid)
    scores: dict[int, float] = {}
    best = None
    for k in sorted(set(settings.candidates)):
        if k < 1 or k >= len(train):
            continue
        mixture = GaussianMixture(
            n_components=k,
            covariance_type="full",
            reg_covar=settings.reg_covar,
            max_iter=settings.max_iter,
            random_state=settings.seed,
        )
        with warnings.catch_warnings():  # a candidate that did not converge is still scored
            warnings.simplefilter("ignore")
            mixture.fit(train)
        scores[k] = float(mixture.score(valid))
        if best is not None and scores[k] < scores[best[0]]:
            break
        best = (k, mixture)
    if best is None:
        raise ConfigError(f"a fitted prior needs more than {len(train)} train codes")
    mixture = best[1]
    covariances = torch.from_numpy(mixture.covariances_).double()
    prior = GaussianMixturePrior(
        weights=torch.from_numpy(mixture.weights_).double(),
        means=torch.from_numpy(mixture.means_).double(),
        cholesky=torch.linalg.cholesky(covariances),
    )
    return prior, scores


def _as_array(codes: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(codes, torch.Tensor):
        codes = codes.detach().cpu().numpy()
    return np.asarray(codes, dtype=np.float64)


def save_prior(path: str | Path, prior: GaussianMixturePrior, info: dict[str, Any]) -> Path:
    """The mixture's tensors and ``info`` (JSON in the header), written atomically."""
    tensors = {"weights": prior.weights, "means": prior.means, "cholesky": prior.cholesky}
    return write_tensors(path, tensors, metadata={INFO_KEY: json.dumps(info)})


def read_prior(path: str | Path) -> tuple[GaussianMixturePrior, dict[str, Any]]:
    """The mixture and its info from a file ``save_prior`` wrote; one line if it is not one."""
    tensors = read_tensors(path)
    try:
        with safe_open(str(path), framework="pt") as file:
            info = json.loads((file.metadata() or {})[INFO_KEY])
        prior = GaussianMixturePrior(tensors["weights"], tensors["means"], tensors["cholesky"])
    except (KeyError, json.JSONDecodeError, SafetensorError) as error:
        raise RunDirError(f"{path}: not a latent prior file ({error})") from None
    return prior, info


def prior_file(run: Run, fingerprint: str) -> Path:
    """Where the density of the run's loaded weights is kept: ``PRIOR_FILE`` for the final
    model, a file of its own (named by ``fingerprint``) for a checkpoint's weights."""
    if run.checkpoint is None:
        return run.run_dir / PRIOR_FILE
    name = CHECKPOINT_PRIOR_FILE.format(fingerprint=fingerprint[:16])
    return run.run_dir / PRIOR_FILE.parent / name


def split_codes(run: Run, split: str, settings: PriorSettings, batch_size: int, progress: bool):
    """mu of at most ``settings.max_codes`` images of ``split`` (a seeded choice)."""
    dataset = run.dataset(split, progress=progress)
    indices = choose_indices(len(dataset), settings.max_codes, settings.seed)
    return encode(run.model, stack_images(dataset, indices), batch_size)


def stored_prior(path: Path, fingerprint: str, settings: PriorSettings, latent_dim: int):
    """The mixture stored at ``path`` when it was fitted for these weights (their
    ``weights_fingerprint``) and these settings."""
    if not path.is_file():
        return None
    try:
        prior, info = read_prior(path)
    except RunDirError as error:
        warnings.warn(f"{error}; fitting the latent prior again", stacklevel=3)
        return None
    same = info.get("weights_sha256") == fingerprint and info.get("settings") == settings.to_dict()
    return prior if same and prior.latent_dim == latent_dim else None


def fitted_prior(
    run: RunLike,
    settings: PriorSettings = PriorSettings(),
    *,
    device: str = "cpu",
    batch_size: int = 256,
    progress: bool = True,
) -> GaussianMixturePrior:
    """The fitted density of the run's weights as loaded (``model.safetensors`` or the
    checkpoint it was opened from): read from ``RUN/analysis/`` when it was fitted for these
    weights and these settings, else fitted on the train split's mu (component count chosen on
    the valid split's) and stored there (``prior_file``)."""
    run = open_run(run, device)
    fingerprint = weights_fingerprint(run.model)
    path = prior_file(run, fingerprint)
    latent_dim = run.config.model.latent_dim
    for kept in dict.fromkeys((path, run.run_dir / PRIOR_FILE)):  # the final model's weights?
        prior = stored_prior(kept, fingerprint, settings, latent_dim)
        if prior is not None:
            return prior
    if progress:
        print(f"{run.name}: fitting the latent prior once; it is kept in {path}", file=sys.stderr)
    train = split_codes(run, "train", settings, batch_size, progress)
    valid = split_codes(run, "valid", settings, batch_size, progress)
    prior, scores = fit_gaussian_mixture(train, valid, settings)
    info = {
        "format": FORMAT,
        "kind": "gaussian_mixture",
        "covariance": "full",
        "components": int(prior.weights.shape[0]),
        "latent_dim": latent_dim,
        "code": "mu",
        "train_codes": len(train),
        "valid_codes": len(valid),
        "valid_log_likelihood": {str(k): v for k, v in scores.items()},
        "settings": settings.to_dict(),
        "weights_sha256": fingerprint,
        "checkpoint": None if run.checkpoint is None else str(run.checkpoint),
    }
    try:
        save_prior(path, prior, info)
    except OSError as error:
        warnings.warn(f"{path}: not kept ({error.strerror})", stacklevel=2)
    return prior


def check_sampler(name: str) -> str:
    if name not in SAMPLERS:
        raise ConfigError(f"sampler {name!r}: choose one of {', '.join(SAMPLERS)}")
    return name


def make_sampler(
    run: RunLike,
    name: str = DEFAULT_SAMPLER,
    *,
    device: str = "cpu",
    batch_size: int = 256,
    progress: bool = True,
) -> Sampler:
    """The sampler ``name`` for a run (``fitted``: read or fitted once, see ``fitted_prior``)."""
    if check_sampler(name) == "standard":
        run = open_run(run, device)
        return StandardPrior(run.config.model.latent_dim)
    return fitted_prior(run, device=device, batch_size=batch_size, progress=progress)
