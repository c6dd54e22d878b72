"""Read the IDX files of MNIST and Fashion-MNIST (gzipped or not) into numpy arrays."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .errors import DataError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """The array in an IDX file, e.g. uint8 ``(60000, 28, 28)`` images or ``(60000,)`` labels.

    Raises DataError naming the file if the header does not match the data.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as err:
        raise DataError(f"cannot read {path}: {err}; delete it and fetch it again") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise DataError(
            f"{path} is not an IDX file (bad magic number); delete it and fetch it again"
        )
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[data[2]])
    expected = 4 + 4 * ndim + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{path} holds {len(data)} bytes but its header promises {expected}; "
            "the file is truncated or corrupt, fetch it again"
        )
    return np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim).reshape(shape)
