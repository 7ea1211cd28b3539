"""The kept counts that let `roadmap steps` list a roadmap without torch are the live counts."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import roadmap
from roadmap.arch import complexity as cx


def test_every_shipped_spec_has_a_kept_count_equal_to_the_live_one():
    specs = cx.shipped_specs()
    assert len(specs) >= 100  # three roadmaps and the step-7 split, each in three designs
    kept = cx.kept()
    missing = [s.name for s in specs if cx._key(s, 1000, 224) not in kept]
    assert not missing, f"run `python -m roadmap.arch.complexity` to keep counts for {missing[:3]}"
    for s in specs:
        assert cx.complexity(s) == cx.complexity(s, live=True), s.name  # bit for bit, params and GFLOPs


def test_a_count_not_kept_is_counted_live():
    spec = roadmap.load("convnext-t").spec("step4")
    assert cx._key(spec, 10, 32) not in cx.kept()
    assert cx.complexity(spec, 10, 32) == cx.complexity(spec, 10, 32, live=True)


def test_listing_a_roadmap_imports_no_torch():
    code = ("import sys, contextlib, io\nfrom roadmap.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    assert main(['steps', '--design', 'leave-one-out']) == 0\n"
            "assert 'no-step7' in out.getvalue() or 'no-' in out.getvalue(), out.getvalue()\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
