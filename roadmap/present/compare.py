"""Any two arms compared the way the report compares a step with its parent: paired by seed.

Two results folders (the same roadmap trained with two recipes, say): every step both hold, B - A.
Two steps of one folder: one row, B - A. The statistics are `roadmap.present.stats.paired_delta`.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from roadmap.errors import RoadmapError
from roadmap.present.stats import mean_interval, paired_delta, seed_values
from roadmap.runs.table import read_results

COLUMNS = ["a", "b", "step", "n", "a_mean", "b_mean", "delta", "delta_ci_low", "delta_ci_high", "p_improve",
           "resolved", "seeds_needed"]


def _one_roadmap(table: pd.DataFrame, folder: Path, roadmap: str | None) -> pd.DataFrame:
    names = list(dict.fromkeys(table["roadmap"].dropna().astype(str)))
    if roadmap is not None:
        if roadmap not in names:
            raise RoadmapError(f"{folder} has no rows of roadmap {roadmap!r}; it has {', '.join(names) or 'none'}")
        return table[table["roadmap"].astype(str) == roadmap]
    paths = [n for n in names if not n.endswith("]")]  # "convnext-t[leave-one-out]": an ablation design
    if len(paths) == 1 and len(names) > 1:  # the roadmap and its designs: the roadmap, as report reads it
        return table[table["roadmap"].astype(str) == paths[0]]
    if len(names) > 1:
        raise RoadmapError(f"{folder} holds several roadmaps ({', '.join(names)}); choose one with --roadmap")
    return table


def _row(a: str, b: str, step: str, va: dict, vb: dict) -> dict:
    d = paired_delta(vb, va)
    both = [s for s in va if s in vb]  # the means beside a paired delta are over the same seeds
    return {"a": a, "b": b, "step": step, "n": d.n, "a_mean": mean_interval(va[s] for s in both).mean,
            "b_mean": mean_interval(vb[s] for s in both).mean, "delta": d.delta, "delta_ci_low": d.low,
            "delta_ci_high": d.high, "p_improve": d.p_improve, "resolved": d.resolved,
            "seeds_needed": pd.NA if d.seeds_needed is None else d.seeds_needed}


def processors(table: pd.DataFrame) -> set[str]:
    """The processors a table's finished rows name (rows from before the column name none)."""
    if "cpu" not in table:
        return set()
    ok = table[table["status"] == "ok"]
    return {str(c) for c in ok["cpu"].dropna() if str(c)}


def processor_warning(a: str | Path, ta: pd.DataFrame, b: str | Path, tb: pd.DataFrame) -> str | None:
    """A sentence when two folders' rows were trained on different processors: CPU results repeat
    bit for bit only on one, so a small delta between them may be the machine's, not the recipe's."""
    pa, pb = processors(ta), processors(tb)
    if not pa or not pb or pa == pb:
        return None
    return (f"warning: {a} was trained on {', '.join(sorted(pa))} and {b} on {', '.join(sorted(pb))}; CPU "
            "results repeat exactly only on one processor, so part of each delta may be the machine's")


def compare_folders(a: str | Path, b: str | Path, roadmap: str | None = None) -> pd.DataFrame:
    """Every step both folders finished, B - A, paired by seed (in A's step order); a warning in
    `.attrs["warning"]` when they come from different processors."""
    ra, rb = _one_roadmap(read_results(a), Path(a), roadmap), _one_roadmap(read_results(b), Path(b), roadmap)
    ta, tb = seed_values(ra), seed_values(rb)
    common = [s for s in ta if s in tb]
    if not common:
        raise RoadmapError(f"{a} and {b} have no finished step in common")
    df = _frame([_row(str(a), str(b), s, ta[s], tb[s]) for s in common])
    df.attrs["warning"] = processor_warning(a, ra, b, rb)
    return df


def compare_steps(folder: str | Path, a: str, b: str, roadmap: str | None = None) -> pd.DataFrame:
    """Step B - step A within one results folder, paired by seed."""
    values = seed_values(_one_roadmap(read_results(folder), Path(folder), roadmap))
    for step in (a, b):
        if step not in values:
            raise RoadmapError(f"{folder} has no finished seed of step {step!r}; it has {', '.join(values)}")
    return _frame([_row(a, b, f"{b} - {a}", values[a], values[b])])


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS).astype({"n": "Int64", "seeds_needed": "Int64", "resolved": bool})


def verdict(r: dict) -> str:
    if pd.isna(r["delta"]):
        return "no seed in common"
    if r["resolved"]:
        return "B better" if r["delta"] > 0 else "B worse"
    return "≈ within noise" if not pd.isna(r["delta_ci_low"]) else "≈ (one seed: no interval)"


def to_markdown(df: pd.DataFrame) -> str:
    lines = ["| step | n | A | B | Δ B − A [95% CI] | p(B > A) | verdict | seeds for 80% power |",
             "|---|---:|---:|---:|---:|---:|---|---:|"]
    for r in df.to_dict(orient="records"):
        ci = "" if pd.isna(r["delta_ci_low"]) else f" [{r['delta_ci_low']:+.2f}, {r['delta_ci_high']:+.2f}]"
        delta = "" if pd.isna(r["delta"]) else f"{r['delta']:+.2f}{ci}"
        p = "" if pd.isna(r["p_improve"]) else f"{r['p_improve']:.3f}"
        need = "" if pd.isna(r["seeds_needed"]) else str(int(r["seeds_needed"]))
        lines.append(f"| {r['step']} | {int(r['n'])} | {r['a_mean']:.2f} | {r['b_mean']:.2f} | {delta} | {p} | "
                     f"{verdict(r)} | {need} |")
    return "\n".join(lines) + "\n"
