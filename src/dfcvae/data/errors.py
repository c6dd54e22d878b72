"""The one error and the one warning the data layer shows to users."""

from __future__ import annotations

from dfcvae.errors import DFCVAEError


class DataError(DFCVAEError, ValueError):
    """A dataset cannot be used; the message is one line naming the file or option and the fix."""


class SkippedFilesWarning(UserWarning):
    """Some image files could not be decoded and were left out of the cache."""
