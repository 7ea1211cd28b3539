"""Parameters and GFLOPs of a spec, the paper's convention (see roadmap.arch.counting).

The counts of every shipped roadmap's steps, in each design, at 224 px and 1000 classes are kept
in complexity.json by spec hash, so `roadmap steps` lists a roadmap without importing torch or
building anything. The tests check every kept count against the live one (tests/test_complexity.py);
`python -m roadmap.arch.complexity` writes the file anew after a roadmap or the builder changes.
Any other spec, size or class count is counted live.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from roadmap.arch.spec import Spec

KEPT = Path(__file__).with_name("complexity.json")


def _key(spec: Spec, num_classes: int, res: int) -> str:
    return f"{spec.hash}:{num_classes}:{res}"


@lru_cache(maxsize=1)
def kept() -> dict[str, list]:
    return json.loads(KEPT.read_text()) if KEPT.is_file() else {}


def complexity(spec: Spec, num_classes: int = 1000, res: int = 224, live: bool = False) -> dict:
    """{"params": int, "gflops": float} of `spec` built for `num_classes` at `res` x `res`; `live`
    counts it now even where a kept count exists."""
    hit = None if live else kept().get(_key(spec, num_classes, res))
    if hit is None:
        from roadmap.arch.counting import count  # torch, only when something is counted
        hit = count(spec, num_classes, res)
    params, gflops = hit
    return {"params": int(params), "gflops": float(gflops)}


def shipped_specs() -> list[Spec]:
    """Every distinct spec of the shipped roadmaps, in every design that can be built."""
    from roadmap import shipped
    from roadmap.arch.names import DESIGNS
    from roadmap.arch.catalog import load
    from roadmap.errors import RoadmapError

    specs = {}
    for name in shipped.names("roadmap"):
        for design in DESIGNS:
            try:
                rm = load(name, design)
            except RoadmapError:  # a design that does not apply to this roadmap
                continue
            for step in rm.steps:
                specs.setdefault(step.spec.hash, step.spec)
    return list(specs.values())


def write_kept(num_classes: int = 1000, res: int = 224) -> int:
    """Count every shipped spec live and keep the counts; returns how many."""
    counts = {_key(s, num_classes, res): list(complexity(s, num_classes, res, live=True).values())
              for s in shipped_specs()}
    lines = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(counts.items())]  # one spec a line
    KEPT.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    kept.cache_clear()
    return len(counts)


if __name__ == "__main__":
    print(f"kept {write_kept()} counts in {KEPT}")
