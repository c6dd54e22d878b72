"""Run a torchvision download and turn any failure into one DataError line; never hang.

Setting ``$DFCVAE_OFFLINE`` to anything but ``""``/``0`` turns downloads off (used by the tests).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from urllib.error import URLError

from .errors import DataError

TIMEOUT_S = 30.0


def download(dataset: str, fetch: Callable[[], object], *, fix: str) -> None:
    """Call ``fetch`` (a torchvision constructor with ``download=True``) with a socket timeout.

    fix: what the user can do instead, naming the URL and the ``--data-root`` layout expected.
    """
    if os.environ.get("DFCVAE_OFFLINE", "") not in ("", "0"):
        raise DataError(
            f"{dataset} is not on this machine and $DFCVAE_OFFLINE forbids downloads; {fix}"
        )
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(TIMEOUT_S)
    try:
        fetch()
    except (URLError, OSError, RuntimeError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise DataError(f"could not download {dataset} ({reason}); {fix}") from None
    finally:
        socket.setdefaulttimeout(previous)
