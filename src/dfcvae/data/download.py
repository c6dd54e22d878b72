"""Run a torchvision download and turn any failure into one DataError line; never hang.

``$DFCVAE_OFFLINE`` (read by ``dfcvae.offline``) turns downloads off; the tests set it.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.error import URLError

from dfcvae.errors import first_line
from dfcvae.offline import download_timeout, is_offline

from .errors import DataError

TIMEOUT_S = 30.0


def download(dataset: str, fetch: Callable[[], object], *, fix: str) -> None:
    """Call ``fetch`` (a torchvision constructor with ``download=True``) with a socket timeout.

    fix: what the user can do instead, naming the URL and the ``--data-root`` layout expected.
    """
    if is_offline():
        raise DataError(
            f"{dataset} is not on this machine and $DFCVAE_OFFLINE forbids downloads; {fix}"
        )
    try:
        with download_timeout(TIMEOUT_S):
            fetch()
    except (URLError, OSError, RuntimeError) as err:
        raise DataError(f"could not download {dataset} ({first_line(err)}); {fix}") from None
