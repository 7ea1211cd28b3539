"""A roadmap file's questions (roadmap.arch.questions) read from a results folder.

Each question's B - A is paired by seed, as `roadmap compare` pairs two steps. The reading is the
rule written before the rows: a published direction is "kept" when our change is resolved (its 95%
interval excludes 0) with the same sign, "contradicted" when resolved with the other sign, and
"not seen" otherwise. A "level" claim has no sign to keep: a resolved change reads "not level",
an unresolved one is only reported; "none" published is only reported.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from roadmap.arch.questions import Question
from roadmap.arch.steps import Roadmap
from roadmap.present import text
from roadmap.present.roadmaps import match, roadmaps_of
from roadmap.present.selection import of_design, of_roadmap
from roadmap.present.stats import mean_interval, paired_delta, seed_values
from roadmap.runs.folder import RunFolder
from roadmap.runs.table import read_results, read_runs

COLUMNS = ["roadmap", "ask", "a", "b", "published", "source", "n", "a_mean", "b_mean", "delta", "delta_ci_low",
           "delta_ci_high", "resolved", "reading"]
SIGN = {"higher": 1, "lower": -1}


def reading(published: str, n: int, delta: float, resolved: bool) -> str:
    """The mechanical reading of one question (module docstring); "not run" before any paired seed."""
    if n == 0:
        return "not run"
    if published in SIGN:
        if not resolved:
            return "not seen"
        return "kept" if (delta > 0) == (SIGN[published] > 0) else "contradicted"
    if published == "level":
        return "not level" if resolved else "reported (level has no sign)"
    return "reported (none published)"


def question_rows(table: pd.DataFrame, rm: Roadmap) -> list[dict]:
    """One row per question of `rm`, over the finished seeds `table` holds of its steps."""
    values = seed_values(table)
    return [_row(rm.name, q, values.get(q.a, {}), values.get(q.b, {})) for q in rm.questions]


def _row(name: str, q: Question, va: dict, vb: dict) -> dict:
    both = [s for s in va if s in vb]  # the means beside a paired delta are over the same seeds
    d = paired_delta(vb, va)
    n = len(both)
    return {"roadmap": name, "ask": q.ask, "a": q.a, "b": q.b, "published": q.published, "source": q.source,
            "n": n, "a_mean": mean_interval(va[s] for s in both).mean if n else float("nan"),
            "b_mean": mean_interval(vb[s] for s in both).mean if n else float("nan"),
            "delta": d.delta, "delta_ci_low": d.low, "delta_ci_high": d.high, "resolved": bool(d.resolved),
            "reading": reading(q.published, n, d.delta, bool(d.resolved))}


def question_table(folder: str | Path, roadmap: str | None = None) -> pd.DataFrame:
    """Every question of every roadmap a results folder's path rows come from (or of `roadmap`),
    in file order; empty when no roadmap of the folder poses any."""
    folder = RunFolder(folder)
    table = of_roadmap(of_design(read_results(folder), "path", folder), roadmap, folder)
    names = table["roadmap"].fillna("").astype(str)
    loaded = roadmaps_of(table, read_runs(folder))
    rows = []
    for name in dict.fromkeys(names):
        rm = match(name, loaded)
        if rm is not None:
            rows += question_rows(table[names == name], rm)
    return pd.DataFrame(rows, columns=COLUMNS).astype({"n": int, "resolved": bool})


def to_markdown(df: pd.DataFrame) -> str:
    """The questions as a Markdown table, the roadmap column only when there are several."""
    several = df["roadmap"].nunique() > 1
    rows = []
    for r in df.to_dict(orient="records"):
        means = "" if not r["n"] else f"{r['a_mean']:.2f} -> {r['b_mean']:.2f}"
        cells = [r["ask"], f"{r['b']} − {r['a']}", str(r["n"]), means,
                 text.change(r["delta"], r["delta_ci_low"], r["delta_ci_high"]),
                 r["published"] + (f" ({r['source']})" if r["source"] else ""), r["reading"]]
        rows.append(([r["roadmap"]] if several else []) + cells)
    headers = ["question", "B − A", "n", "A -> B", "Δ [95% CI]", "published direction", "reading"]
    numeric = [False, False, True, True, True, False, False]
    return text.markdown_table((["roadmap"] if several else []) + headers, ([False] if several else []) + numeric,
                               rows)


def to_csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, float_format="%.4g")
