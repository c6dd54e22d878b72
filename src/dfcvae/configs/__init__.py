"""The configs that ship inside the package: the paper's CelebA runs and the Fashion-MNIST runs,
one TOML file each, so that ``dfcvae train --config celeba-vae-345`` works after a plain
``pip install`` as well as in a checkout. ``--config`` takes such a name or a path to a file of
one's own."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from dfcvae.errors import ConfigError

SUFFIX = ".toml"


def shipped_configs() -> dict[str, Path]:
    """Name (the file name without ``.toml``) -> the shipped file."""
    folder = Path(str(files(__name__)))
    return {path.stem: path for path in sorted(folder.glob(f"*{SUFFIX}"))}


def config_path(name_or_path: str | Path) -> Path:
    """A config file given by path, or by the name of a shipped config (``celeba-vae-345``,
    with or without ``.toml``); one line listing the shipped names when it is neither."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    shipped = shipped_configs()
    name = path.name.removesuffix(SUFFIX)
    if path.parent == Path(".") and name in shipped:
        return shipped[name]
    raise ConfigError(
        f"--config {name_or_path}: no such file, and not the name of a shipped config "
        f"({', '.join(shipped)})"
    )
