"""Whether dfcvae may download anything: data sets and loss-network weights alike.

``DFCVAE_OFFLINE`` has one meaning, read here only:

- ``1``, ``true``, ``yes`` or ``on`` (any case): offline, never download; a missing file is a
  one-line error naming where to put it;
- unset, empty, ``0``, ``false``, ``no`` or ``off``: online, download what is missing.

Any other value is a one-line ``ConfigError``. The tests set ``DFCVAE_OFFLINE=1``; code that must
not download for a while runs inside ``with forced():``, which restores the variable after.
Downloads run under ``download_timeout`` so that a machine without a network never hangs.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from dfcvae.errors import ConfigError

ENV_VAR = "DFCVAE_OFFLINE"
OFFLINE_VALUES = ("1", "true", "yes", "on")
ONLINE_VALUES = ("", "0", "false", "no", "off")


def is_offline() -> bool:
    """True when ``DFCVAE_OFFLINE`` forbids downloads (see the module docstring)."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in OFFLINE_VALUES:
        return True
    if value in ONLINE_VALUES:
        return False
    raise ConfigError(
        f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not understood: set it to 1 (never download) "
        "or 0 (download what is missing)"
    )


@contextmanager
def forced(offline: bool = True) -> Iterator[None]:
    """Inside the block dfcvae is offline (or, with ``offline=False``, online), whatever
    ``DFCVAE_OFFLINE`` says; after it the variable is as it was, set or unset, also after an
    error. It is an environment variable, so the block holds for the whole process."""
    previous = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = "1" if offline else "0"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = previous


@contextmanager
def download_timeout(seconds: float) -> Iterator[None]:
    """Every socket opened inside gives up after ``seconds`` without an answer."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)
