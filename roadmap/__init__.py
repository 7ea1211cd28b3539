"""roadmap: the ConvNeXt modernization roadmap (Liu et al. 2022, Figure 2) as data.

    import roadmap
    rm = roadmap.load("convnext-t")          # or a path to your own roadmap YAML
    rm.ids                                   # ['step0', 'step1', ..., 'step7']
    spec = rm.spec("step7")                  # a frozen, hashable Spec
    model = roadmap.build(spec, num_classes=1000)

The layers, each importing only the ones before it: `arch` (spec, steps, builder), `train`
(loop, recipes, data), `runs` (runner, results table), `present` (statistics, figures,
reports) and `cli`. The names below load on first use, so `roadmap --help` imports no torch.
"""
from __future__ import annotations

import importlib

# public name -> the module that defines it
_API = {
    "build": "roadmap.arch.network",
    "complexity": "roadmap.arch.complexity",
    "load": "roadmap.arch.steps",
    "Roadmap": "roadmap.arch.steps",
    "Step": "roadmap.arch.steps",
    "Spec": "roadmap.arch.spec",
    "RoadmapError": "roadmap.errors",
}

__all__ = sorted(_API)
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'roadmap' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
