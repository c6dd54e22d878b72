"""``dfcvae.__version__``: the installed package's version (``importlib.metadata``); from a source
tree that was never installed, the version ``pyproject.toml`` beside it names."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
UNKNOWN = "0+unknown"


def package_version() -> str:
    try:
        return version("dfcvae")
    except PackageNotFoundError:
        pass
    try:
        found = re.search(r'^version\s*=\s*"([^"]+)"', PYPROJECT.read_text(), re.MULTILINE)
    except OSError:
        found = None
    return found.group(1) if found else UNKNOWN


__version__ = package_version()
