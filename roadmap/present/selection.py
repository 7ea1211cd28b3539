"""Which rows of a results table a figure, report or comparison shows: one ablation design, one
roadmap, or one value of a swept (or --set) recipe setting, each refused in one sentence when the
folder has none; and one row per seed, never two recipes of one seed (last_per_seed)."""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
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


def _identity(row: Mapping) -> str:
    """What a row was trained under: its recipe hash, which names the recipe after every --set and
    sweep value (a cached copy keeps its original's); else, in tables without it, its settings."""
    h = row.get("recipe_hash")
    if isinstance(h, str) and h:
        return h
    both = {**_settings(row.get("recipe_overrides")), **_settings(row.get("sweep"))}
    return " ".join(f"{k}={v}" for k, v in sorted(both.items()))


def last_per_seed(rows: pd.DataFrame, keys: Sequence[str] = ("step", "seed")) -> pd.DataFrame:
    """One row per `keys`: a rerun (the later line) replaces an earlier one. Rows of one seed trained
    under different recipes (other swept values or --set overrides) are two experiments, not a rerun,
    and are refused: keeping either would mix two studies without saying so."""
    keys = list(keys)
    if rows.empty:
        return rows
    ident = pd.Series([_identity(r) for r in rows.to_dict(orient="records")], index=rows.index)
    kinds = rows.assign(_ident=ident).drop_duplicates(keys + ["_ident"])
    clash = kinds[kinds.duplicated(keys, keep=False)]
    if len(clash):
        first = clash[(clash[keys] == clash[keys].iloc[0]).all(axis=1)]
        raise RoadmapError(_mixed(first, keys))
    return rows.drop_duplicates(keys, keep="last")


OWN = "the recipe's"  # a setting a row's recipe kept


def _mixed(rows: pd.DataFrame, keys: list[str]) -> str:
    """One sentence on rows of one seed under several recipes, naming the settings that differ."""
    where = ", ".join(f"{k} {rows[k].iloc[0]}" for k in keys)
    given = [{**_settings(r.get("recipe_overrides")), **_settings(r.get("sweep"))}
             for r in rows.to_dict(orient="records")]
    differ = sorted({k for g in given for k in g if len({h.get(k) for h in given}) > 1})
    if not differ:
        return (f"{where} has rows of {len(rows)} different recipes (recipe_hash "
                f"{', '.join(map(str, rows.get('recipe_hash', pd.Series(dtype=str))))}) under the same "
                "settings (a recipe file changed between runs?); keep the rows of one, or train into another folder")
    seen = "; ".join(" ".join(f"{k}={g.get(k, OWN)}" for k in differ) for g in given)
    return (f"{where} has rows of {len(rows)} settings ({seen}); read one at a time with "
            f"--by {','.join(differ)}")
