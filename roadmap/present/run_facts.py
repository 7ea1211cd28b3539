"""What was run, for a figure's subtitle and a report's header: data, recipe, scale, seeds and
device, from the results table's columns first and run.json for the rest."""
from __future__ import annotations

import pandas as pd


def run_facts(table: pd.DataFrame, run: dict) -> dict:
    """What was run, from the table's columns first and run.json for the rest."""
    def pick(col, *keys):
        if col in table:
            values = list(dict.fromkeys(str(plain(v)) for v in table[col].dropna() if str(v) != ""))
            if len(values) > 1:  # rows trained differently: say so rather than print one run's value
                return f"{' / '.join(values[:3])}{' / ...' if len(values) > 3 else ''} (differs by row)"
            if values:
                return plain(next(v for v in table[col].dropna() if str(v) != ""))
        for k in keys:
            v = run.get(k)
            if isinstance(v, dict):
                v = v.get("name") or v.get(col)
            if v not in (None, ""):
                return plain(v)
        return "?"
    seeds = sorted({int(s) for s in pd.to_numeric(table.get("seed", pd.Series(dtype=float)), errors="coerce").dropna()})
    return {
        "data": str(pick("data", "data", "dataset")), "recipe": pick("recipe", "recipe"), "res": pick("res", "res"),
        "width_mult": pick("width_mult", "width_mult"), "depth_mult": pick("depth_mult", "depth_mult"),
        "epochs": pick("epochs", "epochs") if "epochs" in table or "epochs" in run else "",
        "seeds": ", ".join(map(str, seeds)) or str(run.get("seeds", "?")), "device": str(pick("device", "device")),
        "overrides": pick("recipe_overrides") if "recipe_overrides" in table else "",
    }


def classes_of(runs: list[dict]) -> int | None:
    """The number of classes every invocation in run.json trained on (None if unknown or mixed)."""
    found = {r.get("num_classes") for r in runs}
    return int(next(iter(found))) if len(found) == 1 and None not in found else None


def plain(v):
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v
