"""A CPU training process keeps the memory it frees (roadmap/train/allocator.py)."""
import ctypes
import platform

import pytest
import torch

from roadmap.runs.runner import run
from roadmap.train import loop
from roadmap.train.allocator import keep_freed_memory

from quick_runs import SMALL, cfg

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _mallinfo():
    f = ctypes.CDLL(None).mallinfo2
    f.restype = _Mallinfo2
    return f()


@glibc
def test_a_freed_block_larger_than_any_mmap_threshold_stays_on_the_heap():
    """64 MB is above glibc's largest dynamic mmap threshold (32 MB): by default it is mmapped and
    unmapped on free. Kept: it comes from the heap, and the heap keeps it after the free."""
    assert keep_freed_memory()
    before = _mallinfo()
    x = torch.empty(64 << 20, dtype=torch.uint8)
    x.fill_(1)
    during = _mallinfo()
    assert during.hblkhd == before.hblkhd and during.uordblks - before.uordblks >= 64 << 20  # heap, not mmap
    del x
    assert _mallinfo().arena == during.arena  # not trimmed: the next step's activations reuse it


def test_training_on_a_cpu_keeps_freed_memory(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(loop, "keep_freed_memory", lambda: calls.append(1))
    assert run(cfg(tmp_path, upto="step0", data=SMALL, overrides=["epochs=1", "batch_size=50", "batch_per_device=50"])) == 0
    assert calls == [1]
