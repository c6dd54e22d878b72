"""glibc's allocator, set for a server whose requests come and go in threads of their own.

By default glibc raises its mmap threshold to the size of the largest block freed (up to 32
MiB), so after PyTorch has freed a large tensor, a 20 MB upload or a 16 MB block of a decoded
image comes from the arena of the thread that asked, and each thread that ever decoded an
upload keeps that memory when it is freed: up to 8 arenas per core, each holding its largest
upload. A fixed threshold serves every large block from its own mapping, handed back to the
system when freed, so the server's memory follows the uploads in flight, not the uploads seen
(benchmarks/explore_memory.py).
"""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
LARGE = 1 << 20


def return_large_blocks(threshold: int = LARGE) -> bool:
    """Make glibc serve blocks of ``threshold`` bytes or more from mmap, returned when freed,
    for the rest of the process (``dfcvae explore`` calls it before it serves). True where it
    took effect, False where libc is not glibc."""
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, threshold))
    except (OSError, AttributeError):
        return False
