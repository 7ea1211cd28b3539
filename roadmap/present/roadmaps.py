"""The roadmap files that describe a results table's rows, for what the rows do not carry
themselves: titles, groups, labels and the order of steps never trained. What a row *is* (its
parent, design and scale) comes from the row."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from roadmap.arch.catalog import load
from roadmap.arch.steps import Roadmap
from roadmap.errors import RoadmapError


def roadmaps_of(results: pd.DataFrame, runs: list[dict] | dict | None = None) -> list[Roadmap]:
    """The roadmaps named in a results table's `roadmap` column that can be loaded.

    The column holds a roadmap's name; one that is not shipped (your own YAML) is found through
    the `roadmap_file` of the run.json invocation that trained it.
    """
    runs = [runs] if isinstance(runs, dict) else runs or []
    files = {r.get("roadmap"): r.get("roadmap_file") for r in runs if r.get("roadmap_file")}
    names = results["roadmap"].dropna().astype(str).unique() if "roadmap" in results else []
    out = []
    for name in names:
        rm = try_load(name)
        if rm is None and files.get(name):
            rm = try_load(str(files[name]))
        if rm is not None:
            out.append(rm)
    return out


def as_roadmap(x: Roadmap | str) -> Roadmap:
    return x if isinstance(x, Roadmap) else load(x)


def try_load(key: str) -> Roadmap | None:
    try:
        return load(key) if key else None
    except RoadmapError:
        return None


def match(key: str, roadmaps: Sequence[Roadmap]) -> Roadmap | None:
    for rm in roadmaps:
        if key in (rm.name, str(rm.path)) or Path(key).stem in (rm.name, rm.path.stem):
            return rm
    return None
