"""The one exception family users see: each message is one line naming the file or option."""


class DFCVAEError(Exception):
    """A user-facing error; the CLI prints its message as one line and exits with status 2."""


class ConfigError(DFCVAEError, ValueError):
    """A config value or CLI option that cannot work (names the option and the valid values)."""


class WeightsError(DFCVAEError):
    """Loss-network weights that cannot be found or read."""


class RunDirError(DFCVAEError):
    """A run directory that is missing files, unwritable or from another config."""


class NonFiniteLossError(DFCVAEError):
    """NaN or Inf in the loss or the gradients during training."""
