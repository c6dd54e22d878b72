"""The networks that score images beyond pixels for ``evaluate``: Fréchet feature spaces
(``FEATURE_SPACES``) and LPIPS, each with the reason when it is unavailable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dfcvae.analysis.feature_spaces import (
    FeatureSpace,
    FeatureSpaceUnavailable,
    classifier_space,
    inception_space,
    mobilenet_v2_space,
)
from dfcvae.analysis.frechet import frechet_distance
from dfcvae.analysis.lpips import lpips_network, lpips_per_image
from dfcvae.analysis.precision_recall import K, precision_recall
from dfcvae.analysis.runs import Run
from dfcvae.errors import ConfigError

FEATURE_SPACES = ("inception", "mobilenet_v2", "classifier")


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


@dataclass
class Scorers:
    """The networks that score images beyond pixels: Fréchet feature spaces and LPIPS, with the
    reason for each that is unavailable and notes on how to read them."""

    spaces: dict[str, FeatureSpace]
    lpips_net: Any
    unavailable: dict[str, str]
    notes: list[str]

    @classmethod
    def build(
        cls,
        runs: Sequence[Run],
        names: Sequence[str],
        feature_spaces: Sequence[str],
        classifier: str | Path | None,
        use_lpips: bool,
    ) -> Scorers:
        device = runs[0].device
        notes: list[str] = []
        users = classifier_users(runs, names) if "classifier" in feature_spaces else {}
        if classifier is None and users:
            classifier = next(iter(users.values()))
        spaces, unavailable = build_feature_spaces(feature_spaces, classifier, device)
        favoured = [name for name, folder in users.items() if same_path(folder, classifier)]
        if favoured and "classifier" in spaces:
            notes.append(
                f"the classifier feature space is the loss network of {', '.join(favoured)}, "
                "which favours it there; compare with the other feature spaces too"
            )
        lpips_net = None
        if use_lpips:
            try:
                lpips_net = lpips_network(device)
            except FeatureSpaceUnavailable as error:
                unavailable["lpips"] = str(error)
        if "inception" not in spaces and "inception" in feature_spaces:
            notes.append(
                "no Inception FID here: Fréchet distances are named by their feature space"
            )
        return cls(spaces, lpips_net, unavailable, notes)

    def lpips(
        self, recon: torch.Tensor, originals: torch.Tensor, batch_size: int
    ) -> dict[str, torch.Tensor]:
        """{"lpips": (N,)} per image, or {} without the LPIPS network."""
        if self.lpips_net is None:
            return {}
        chunks = zip(recon.split(batch_size), originals.split(batch_size), strict=True)
        return {"lpips": torch.cat([lpips_per_image(self.lpips_net, r, o) for r, o in chunks])}

    def frechet(
        self, real_features: dict[str, torch.Tensor], recon: torch.Tensor, batch_size: int
    ) -> dict[str, dict[str, float]]:
        """Feature space -> {"reconstructions": Fréchet distance of the reconstructions to the
        real images' features}."""
        return {
            name: {
                "reconstructions": frechet_distance(
                    real_features[name], extract(space, recon, batch_size)
                )
            }
            for name, space in self.spaces.items()
        }

    def sample_scores(
        self, real_features: dict[str, torch.Tensor], samples: torch.Tensor, batch_size: int
    ) -> dict[str, dict[str, float]]:
        """Feature space -> the samples' Fréchet distance to the real images' features, and
        their precision and recall (k-NN manifolds, k = 3) in the same space (None with too few
        images for k-NN manifolds)."""
        scores = {}
        for name, space in self.spaces.items():
            real, fake = real_features[name], extract(space, samples, batch_size)
            scores[name] = {"frechet": frechet_distance(real, fake)}
            if min(len(real), len(fake)) > K:
                scores[name].update(precision_recall(real, fake, K))
            else:
                scores[name].update(precision=None, recall=None, k=K)
        return scores

    def described(self) -> dict[str, dict[str, str]]:
        """Feature space -> its description and the source of its weights."""
        return {
            name: {"description": space.description, "weights": space.source}
            for name, space in self.spaces.items()
        }
