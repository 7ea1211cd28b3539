"""Freed memory stays in the training process (glibc malloc), so a CPU step does not fault it in anew.

Each training step frees its activations and asks for the same sizes again. glibc's malloc by
default serves large blocks with mmap and unmaps them on free, and returns the heap's top to the
kernel once enough of it is free; every step then page-faults and zeroes that memory afresh. On the
2-core machine of 2026-12-02, quiet, one thread, that kernel time was half of a ConvMixer-256/8
training step (batch 256: 34 img/s, 31 s of sys against 29 s of user) and a fifth of a cpu-proxy
ConvNeXt step (batch 128: 1,300 img/s). With mmap off and trimming off (mallopt(3)'s M_MMAP_MAX = 0,
M_TRIM_THRESHOLD = -1) the same steps ran at 72-78 and 1,650-1,740 img/s, with the same losses bit
for bit (the arithmetic never sees where its memory came from); the cost is that the process keeps
its peak (4.4-4.6 GB against 3.6 GB for ConvMixer there).

Process-wide and for good: `train()` calls it on a CPU, so a library caller's process keeps its
freed memory too. A no-op where the C library is not glibc.
"""
from __future__ import annotations

import ctypes
import platform
from functools import lru_cache

M_TRIM_THRESHOLD = -1  # mallopt(3)'s parameter numbers (malloc.h)
M_MMAP_MAX = -4


@lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Tell glibc's malloc never to unmap or trim; True if it took both settings."""
    if platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # -1 disables trimming (mallopt(3)); 0 mmaps: large blocks come from the heap, and stay
    return mallopt(M_TRIM_THRESHOLD, -1) == 1 and mallopt(M_MMAP_MAX, 0) == 1
