"""Which rows of a results table a figure, report or comparison shows: one ablation design, one
roadmap, or one value of a swept (or --set) recipe setting, each refused in one sentence when the
folder has none."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from roadmap.arch.names import bare_name, design_of
from roadmap.errors import RoadmapError


def of_design(table: pd.DataFrame, design: str, folder: str | Path = "the folder") -> pd.DataFrame:
    """The rows of one ablation design (a folder can hold a roadmap's path and its designs)."""
    names = table["roadmap"].fillna("").astype(str)
    mine = table[names.map(design_of) == design]
    if mine.empty:
        has = sorted(set(names.map(design_of)))
        raise RoadmapError(f"{folder} has no {design} rows (it has {', '.join(has)}); choose one with --design")
    return mine


def of_roadmap(table: pd.DataFrame, roadmap: str | None, folder: str | Path = "the folder") -> pd.DataFrame:
    """The rows of one roadmap (None: all of them), by the name its rows carry."""
    if roadmap is None:
        return table
    names = table["roadmap"].fillna("").astype(str)
    bare = names.map(bare_name)
    mine = table[(names == roadmap) | (bare == roadmap)]
    if mine.empty:
        raise RoadmapError(f"{folder} has no rows of roadmap {roadmap!r}; it has "
                           f"{', '.join(dict.fromkeys(names)) or 'none'}")
    return mine


def _settings(text) -> dict[str, str]:
    """"epochs=30 lr=0.001" -> {"epochs": "30", "lr": "0.001"} (a sweep label or a row's recipe_overrides)."""
    if not isinstance(text, str):
        return {}
    return dict(m.groups() for m in re.finditer(r"(?:^|\s)([A-Za-z_]\w*)=(\S+)", text))


def value_of(row: pd.Series | dict, key: str) -> str:
    """What `key` was for a row: its sweep, else its --set overrides, else its own column (epochs), else ""
    (the recipe's own value)."""
    for source in ("sweep", "recipe_overrides"):
        found = _settings(row.get(source)).get(key)
        if found is not None:
            return found
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def split_by(table: pd.DataFrame, key: str | None, folder: str | Path = "the folder") -> list[tuple[str, pd.DataFrame]]:
    """The rows of each value of `key` ("epochs=10", ...), numbers in order; [("", table)] for None.
    Several keys, comma-separated ("epochs,lr"), split a grid: one part per combination found
    ("epochs=10 lr=0.001")."""
    if key is None:
        return [("", table)]
    keys = [k.strip() for k in key.split(",") if k.strip()]
    if not keys:
        raise RoadmapError(f"--by {key!r}: name a recipe setting, e.g. --by epochs")
    values = {k: table.apply(lambda r: value_of(r, k), axis=1) if len(table) else pd.Series(dtype=str)
              for k in keys}
    for k, v in values.items():
        if set(v) <= {""}:
            raise RoadmapError(f"{folder}'s rows do not record {k!r}: neither swept (--sweep) nor set (--set)")
    combos = list(zip(*values.values())) if len(table) else []
    found = list(dict.fromkeys(combos))

    def number(v: str) -> float:
        try:
            return float(v) if v else -math.inf
        except ValueError:
            return math.inf

    found.sort(key=lambda c: tuple(number(v) for v in c))
    label = lambda c: " ".join(f"{k}={v}" if v else f"{k}: the recipe's" for k, v in zip(keys, c))
    series = pd.Series(combos, index=table.index, dtype=object)
    return [(label(c), table[series.map(lambda x: x == c)]) for c in found]


def by_settings(label: str, key: str | None) -> dict[str, str]:
    """A split_by label as {key: value}, "" for the recipe's own value: {} without `key`."""
    if not key:
        return {}
    found = _settings(label)
    return {k.strip(): found.get(k.strip(), "") for k in key.split(",") if k.strip()}
