"""glibc's allocator, set for CPU training: keep freed memory instead of returning it."""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc mallopt parameters


def keep_freed_memory() -> None:
    """Make glibc keep freed memory for reuse instead of handing large blocks back to the OS.

    By default every tensor over 32 MiB (a VGG activation at batch 64 is 64 MiB) is a fresh
    mmap, whose pages the kernel faults in and zeroes on first touch, every step: about a tenth
    of a CPU step's time (docs/benchmarks.md). No effect where libc is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_MAX, 0)
        libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
    except (OSError, AttributeError):
        pass
