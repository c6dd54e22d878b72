"""glibc's allocator for CPU training: keep freed memory instead of returning it to the system.

A process-wide setting that glibc cannot report or undo (``mallopt`` has no getter, and any
``mallopt`` call turns off glibc's sliding mmap threshold for good), so library code never makes
it: ``dfcvae train`` and ``dfcvae demo`` do, in the command-line entry point, and
``dfcvae.train()`` leaves the allocator as it found it. A notebook or script that trains on the
CPU may call ``keep_freed_memory()`` itself, once, for the same speed.
"""

from __future__ import annotations

import ctypes

import torch

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc mallopt parameters


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse instead of handing large blocks back to the OS;
    True when it did (False where libc is not glibc).

    By default every tensor over 32 MiB (a VGG activation at batch 64 is 64 MiB) is a fresh
    mmap, whose pages the kernel faults in and zeroes on first touch, every step: about a tenth
    of a CPU step's time (docs/benchmarks.md).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_MAX, 0)
        libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
    except (OSError, AttributeError):
        return False
    return True


def trains_on_cpu(accelerator: str) -> bool:
    """Whether a run with this ``--accelerator`` trains on the CPU."""
    return accelerator == "cpu" or not torch.cuda.is_available()
