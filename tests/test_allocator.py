"""A CPU training process keeps the memory it frees (roadmap/train/allocator.py)."""
import ctypes
import subprocess
import sys

import pytest

from roadmap.runs.runner import run
from roadmap.train import loop
from roadmap.train.allocator import GLIBC

from quick_runs import SMALL, cfg

# A fresh interpreter (no torch: ~0.1 s), so that neither an earlier test's settings nor a free hole
# it left in the heap decides the outcome: malloc 64 MB (above glibc's largest dynamic mmap
# threshold, 32 MB), touch it, free it; print how much was mmapped and how much the heap shrank.
PROBE = """
import ctypes, sys
from roadmap.train.allocator import keep_freed_memory
class M(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks "
                                                "fordblks keepcost").split()]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype, libc.malloc.restype, libc.free.argtypes = M, ctypes.c_void_p, [ctypes.c_void_p]
if sys.argv[1] == "keep":
    assert keep_freed_memory()
elif sys.argv[1] == "no-mmap-only":
    libc.mallopt(-4, 0)
size = 64 << 20
block = libc.malloc(size)
ctypes.memset(block, 1, size)
during = libc.mallinfo2()
libc.free(block)
after = libc.mallinfo2()
print(during.hblkhd >= size, during.arena - after.arena >= size)
"""


@pytest.mark.skipif(not (GLIBC and hasattr(ctypes.CDLL(None), "mallinfo2")), reason="glibc 2.33+'s malloc")
def test_a_freed_block_larger_than_any_mmap_threshold_stays_on_the_heap():
    def probe(mode):  # (mmapped, heap trimmed after the free)
        out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True).stdout
        return tuple(word == "True" for word in out.split())

    assert probe("default") == (True, False)       # glibc's own way: mmapped, and unmapped on free
    assert probe("no-mmap-only") == (False, True)  # from the heap, whose top is trimmed on free
    assert probe("keep") == (False, False)         # from the heap, which keeps it for the next step


@pytest.mark.long(1)
def test_training_on_a_cpu_keeps_freed_memory(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(loop, "keep_freed_memory", lambda: calls.append(1))
    assert run(cfg(tmp_path, upto="step0", data=SMALL, overrides=["epochs=1", "batch_size=50", "batch_per_device=50"])) == 0
    assert calls == [1]
