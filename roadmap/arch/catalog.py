"""Roadmaps by name or file, in any design: the one loader every layer uses.

    load("convnext-t")                          # a shipped roadmap
    load("my-roadmap.yaml")                     # your own file
    load("convnext-t", "leave-one-out")         # an ablation design (roadmap.arch.designs)
    load("convnext-t[leave-one-out]")           # the same, as results tables name it

Files are read by roadmap.arch.steps and designs derived by roadmap.arch.designs, so neither
needs the other's loader (the import order is steps -> designs -> catalog).
"""
from __future__ import annotations

from pathlib import Path

from roadmap.arch.designs import derive
from roadmap.arch.names import split_design
from roadmap.arch.steps import Roadmap, read
from roadmap.errors import RoadmapError


def load(name_or_path: str | Path, design: str = "path") -> Roadmap:
    """A shipped roadmap by name or any roadmap YAML by path, in `design` ("path": the roadmap
    itself). A name may carry its design as a suffix."""
    bare, suffix = split_design(str(name_or_path))
    if suffix != "path":
        if design not in ("path", suffix):
            raise RoadmapError(f"roadmap {name_or_path} names design {suffix!r}, and --design asks for {design!r}")
        design, name_or_path = suffix, bare
    return derive(read(name_or_path), design)
