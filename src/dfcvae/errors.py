"""The one exception family users see (``DFCVAEError``; the data layer's ``DataError`` is one of
them) and ``first_line``, which turns a library's error into the reason those one-line messages
quote."""


class DFCVAEError(Exception):
    """A user-facing error; the CLI prints its message as one line and exits with status 2."""


class ConfigError(DFCVAEError, ValueError):
    """A config value or CLI option that cannot work (names the option and the valid values)."""


class InputError(DFCVAEError, ValueError):
    """Tensors given to a public function outside the range or shape it documents."""


class WeightsError(DFCVAEError):
    """Loss-network weights that cannot be found or read."""


class RunDirError(DFCVAEError):
    """A run directory that is missing files, unwritable or from another config."""


class NonFiniteLossError(DFCVAEError):
    """NaN or Inf in the loss or the gradients during training."""


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first non-blank line of ``str(error)``, cut to ``limit`` characters; the error's type
    name when it has no message. Library errors often run to many lines of advice."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:limit]
