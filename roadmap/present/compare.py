"""Any two arms compared the way the report compares a step with its parent: paired by seed.

Two results folders (the same roadmap trained with two recipes, say): every step both hold, B - A.
Two steps of one folder: one row, B - A. The statistics are `roadmap.present.stats.paired_delta`.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from roadmap.errors import RoadmapError
from roadmap.present import text
from roadmap.present.roadmaps import roadmaps_of
from roadmap.present.run_facts import classes_of
from roadmap.present.selection import of_design, of_roadmap, split_by
from roadmap.present.stats import mean_interval, near_chance, paired_delta, seed_values
from roadmap.runs.table import read_results, read_runs

COLUMNS = ["a", "b", "step", "n", "a_mean", "b_mean", "delta", "delta_ci_low", "delta_ci_high", "p_improve",
           "resolved", "seeds_needed"]


Key = tuple[str, str]  # (roadmap name, value of --by: "epochs=30", or "")


def _select(table: pd.DataFrame, folder: Path, design: str, roadmap: str | None,
            by: str | None = None) -> dict[Key, pd.DataFrame]:
    """The rows of one design and, if named, one roadmap, by roadmap and value of `by`: as `report`
    chooses them."""
    rows = of_roadmap(of_design(table, design, folder), roadmap, folder)
    names = rows["roadmap"].fillna("").astype(str)
    return {(name, label): part for name in dict.fromkeys(names)
            for label, part in split_by(rows[names == name], by, folder)}


def _label(key: Key, step: str, several: bool) -> str:
    name, value = key
    return (f"{value}: " if value else "") + (f"{name} {step}" if several else step)


def _several(keys) -> bool:
    return len({name for name, _ in keys}) > 1


def paired_row(va: dict, vb: dict) -> dict:
    """B - A over the seeds both arms finished ({seed: top1} each), paired (stats.paired_delta)."""
    d = paired_delta(vb, va)
    both = [s for s in va if s in vb]  # the means beside a paired delta are over the same seeds
    return {"n": d.n, "a_mean": mean_interval(va[s] for s in both).mean,
            "b_mean": mean_interval(vb[s] for s in both).mean, "delta": d.delta, "delta_ci_low": d.low,
            "delta_ci_high": d.high, "p_improve": d.p_improve, "resolved": d.resolved,
            "seeds_needed": pd.NA if d.seeds_needed is None else d.seeds_needed}


def _row(a: str, b: str, step: str, va: dict, vb: dict) -> dict:
    return {"a": a, "b": b, "step": step, **paired_row(va, vb)}


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


def compare_folders(a: str | Path, b: str | Path, roadmap: str | None = None, design: str = "path",
                    by: str | None = None) -> pd.DataFrame:
    """Every step both folders finished, B - A, paired by seed (in A's step order), for each roadmap
    (and value of `by`) both hold; a warning in `.attrs["warning"]` when they come from different
    processors."""
    ta, tb = read_results(a), read_results(b)
    sa, sb = _select(ta, Path(a), design, roadmap, by), _select(tb, Path(b), design, roadmap, by)
    keys = [k for k in sa if k in sb]
    rows = []
    for key in keys:
        va, vb = seed_values(sa[key]), seed_values(sb[key])
        rows += [_row(str(a), str(b), _label(key, s, _several(keys)), va[s], vb[s]) for s in va if s in vb]
    if not rows:
        raise RoadmapError(f"{a} and {b} have no finished step in common")
    df = _frame(rows)
    df.attrs["warning"] = processor_warning(a, ta, b, tb)
    ca, cb = classes_of(read_runs(a)), classes_of(read_runs(b))
    df.attrs["classes"] = ca if ca == cb else None
    return df


def compare_steps(folder: str | Path, a: str, b: str, roadmap: str | None = None, design: str = "path",
                  by: str | None = None) -> pd.DataFrame:
    """Step B - step A within one results folder, paired by seed: one row per roadmap (and value of
    `by`) that has both."""
    table = read_results(folder)
    chosen = _select(table, Path(folder), design, roadmap, by)
    values = {key: seed_values(rows) for key, rows in chosen.items()}
    a, b = (_step_id(s, table, folder) for s in (a, b))
    both = [name for name, v in values.items() if a in v and b in v]
    for step in (a, b):
        if not any(step in v for v in values.values()):
            has = ", ".join(dict.fromkeys(s for v in values.values() for s in v))
            raise RoadmapError(f"{folder} has no finished seed of step {step!r}; it has {has}")
    if not both:
        raise RoadmapError(f"{folder} has no roadmap with finished seeds of both {a} and {b}")
    df = _frame([_row(a, b, _label(key, f"{b} - {a}", _several(both)), values[key][a], values[key][b])
                 for key in both])
    df.attrs["classes"] = classes_of(read_runs(folder))
    return df


def _step_id(step: str, table: pd.DataFrame, folder: str | Path) -> str:
    """A stage id ("step5") means its last adopted sub-step ("step5.k7"), as in `roadmap run --upto`."""
    if "." in step or step in set(table["step"].astype(str)):
        return step
    for rm in roadmaps_of(table, read_runs(folder)):
        try:
            return rm.step(step).id
        except RoadmapError:
            continue
    return step


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS).astype({"n": "Int64", "seeds_needed": "Int64", "resolved": bool})


def verdict(r: dict, classes: int | None = None) -> str:
    if pd.isna(r["delta"]):
        return "no seed in common"
    return text.verdict(r["delta"], r["delta_ci_low"], r["resolved"], "B better", "B worse") + \
        near_chance((r["a_mean"], r["b_mean"]), classes)


def to_markdown(df: pd.DataFrame) -> str:
    rows = []
    for r in df.to_dict(orient="records"):
        p = "" if pd.isna(r["p_improve"]) else f"{r['p_improve']:.3f}"
        need = "" if pd.isna(r["seeds_needed"]) or r["resolved"] else str(int(r["seeds_needed"]))  # as report
        rows.append([r["step"], str(int(r["n"])), f"{r['a_mean']:.2f}", f"{r['b_mean']:.2f}",
                     text.change(r["delta"], r["delta_ci_low"], r["delta_ci_high"]), p,
                     verdict(r, df.attrs.get("classes")), need])
    return text.markdown_table(["step", "n", "A", "B", "Δ B − A [95% CI]", "p(B > A)", "verdict", "seeds for 80% power"],
                               [False, True, True, True, True, True, False, True], rows)
