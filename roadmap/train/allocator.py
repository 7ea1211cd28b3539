"""Freed memory stays in the training process (glibc malloc), so a CPU step does not fault it in anew.

Each training step frees its activations and asks for the same sizes again. glibc's malloc serves
blocks above its mmap threshold (dynamic, at most 32 MB) with mmap and unmaps them on free, and
returns the heap's top to the kernel once enough of it is free; a step then page-faults and zeroes
that memory afresh. On a 2-core CPU that kernel time was over half of a ConvMixer-256/8 step and a
fifth of a cpu-proxy ConvNeXt one. With mmap and trimming off (mallopt(3)'s M_MMAP_MAX = 0,
M_TRIM_THRESHOLD = -1) the same steps give the same losses bit for bit (the arithmetic never sees
where its memory came from), 1.3-3.1x faster; README, "Speed on a CPU", has the measurements. The
cost: each process keeps its peak memory.

Process-wide and for good: `train()` calls it on a CPU, so a library caller's process keeps its
freed memory too. It holds for the main thread's heap, where the trainer allocates; glibc gives
other threads arenas of their own, which still mmap blocks above 64 MB. A no-op where the C library
is not glibc; where another allocator is preloaded (jemalloc, tcmalloc), glibc takes the settings
and that allocator ignores them.
"""
from __future__ import annotations

import ctypes
import platform
from functools import lru_cache

GLIBC = platform.libc_ver()[0] == "glibc"
M_TRIM_THRESHOLD = -1  # mallopt(3)'s parameter numbers (malloc.h)
M_MMAP_MAX = -4


@lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Tell glibc's malloc never to unmap or trim; True if it took both settings."""
    if not GLIBC:
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # -1 disables trimming (mallopt(3)); 0 mmaps: large blocks come from the heap, and stay
    return mallopt(M_TRIM_THRESHOLD, -1) == 1 and mallopt(M_MMAP_MAX, 0) == 1
