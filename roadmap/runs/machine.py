"""The machine a run trains on: its processor (rows record it), its cores and how many are idle.

CPU results repeat bit for bit only on one processor with one thread count, so a row names both.
A lone variant takes the cores idle when it starts; several take one core and one thread each
(roadmap.runs.runner), as a multi-threaded job beside a busy core waits at every parallel op for a
thread that was descheduled.
"""
from __future__ import annotations

import os
import time
from functools import lru_cache


def cores() -> int:
    """The cores this process may run on (a container's or taskset's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies over all cores since boot, from /proc/stat; None where there is none."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])  # guest time is already counted in user


def busy_cores(window_s: float = 0.25) -> float:
    """How many cores other processes keep busy, sampled over `window_s` while this one sleeps."""
    a = _cpu_times()
    if a is None:
        return 0.0
    time.sleep(window_s)
    b = _cpu_times()
    total = b[1] - a[1]
    host = os.cpu_count() or 1  # /proc/stat counts every core of the host
    return host * (b[0] - a[0]) / total if total > 0 else 0.0


def idle_cores() -> int:
    """Cores free for training now, at least 1: a core counts as busy when it is more than half so."""
    n = cores()
    return max(1, min(n, int(n - busy_cores() + 0.5)))


@lru_cache(maxsize=1)
def cpu_name() -> str:
    """The processor, as precise as the kernel says: a VM's generic brand name plus family, model and
    stepping, which tell two generations apart."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first core describes them all
                key, _, value = line.partition(":")
                info[key.strip()] = value.strip()
    except OSError:
        import platform
        return platform.processor() or platform.machine() or "unknown"
    name = info.get("model name") or info.get("Processor") or "unknown"
    ids = [f"{k.split()[-1]} {info[k]}" for k in ("cpu family", "model", "stepping") if k in info]
    return f"{name} ({', '.join(ids)})" if ids else name


# the instruction sets that change what a bf16 or fp32 kernel computes, beside torch's own dispatch level
_FLAGS = ("avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile")


@lru_cache(maxsize=1)
def cpu_capability() -> str:
    """torch's CPU dispatch level (DEFAULT, AVX2, AVX512, ...) and the bf16 / AMX flags the CPU has."""
    import torch
    from roadmap.train.precision import cpu_flags
    level = torch.backends.cpu.get_cpu_capability()
    extra = [f for f in _FLAGS if f in cpu_flags()]
    return f"{level} ({' '.join(extra)})" if extra else level
