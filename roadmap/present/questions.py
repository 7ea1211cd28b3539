"""A roadmap file's questions (roadmap.arch.questions) read from a results folder.

Each question's B - A is paired by seed, as `roadmap compare` pairs two steps. The reading is the
rule written before the rows: a published direction is "kept" when our change is resolved (its 95%
interval excludes 0) with the same sign, "contradicted" when resolved with the other sign, and
"not seen" otherwise. A "level" claim has no sign to keep: a resolved change reads "not level",
an unresolved one is only reported; "none" published is only reported.
"""
from __future__ import annotations

import pandas as pd

from roadmap.arch.questions import Question
from roadmap.arch.steps import Roadmap
from roadmap.present import text
from roadmap.present.compare import paired_row
from roadmap.present.roadmaps import match
from roadmap.present.stats import near_chance, seed_values

COLUMNS = ["roadmap", "ask", "a", "b", "published", "source", "n", "a_mean", "b_mean", "delta", "delta_ci_low",
           "delta_ci_high", "resolved", "reading"]
SIGN = {"higher": 1, "lower": -1}


def reading(published: str, n: int, delta: float, resolved: bool) -> str:
    """The mechanical reading of one question (module docstring), over n seeds both steps finished."""
    if n == 0:
        return "no seed in common"
    if published in SIGN:
        if not resolved:
            return "not seen" + (" (one seed: no interval)" if n == 1 else "")
        return "kept" if (delta > 0) == (SIGN[published] > 0) else "contradicted"
    if published == "level":
        return "not level" if resolved else "reported (level has no sign)"
    return "reported (none published)"


def question_table(table: pd.DataFrame, roadmaps: list[Roadmap]) -> pd.DataFrame:
    """Every question that the roadmaps of a results table's rows pose, read from those rows (one
    setting's: the report's parts), in file order; empty when none poses any."""
    names = table["roadmap"].fillna("").astype(str) if "roadmap" in table else pd.Series(dtype=str)
    rows = []
    for name in dict.fromkeys(names):
        rm = match(name, roadmaps)
        if rm is not None and rm.questions:
            values = seed_values(table[names == name])
            rows += [_row(rm.name, q, values.get(q.a, {}), values.get(q.b, {})) for q in rm.questions]
    return pd.DataFrame(rows, columns=COLUMNS).astype({"n": int, "resolved": bool})


def _row(name: str, q: Question, va: dict, vb: dict) -> dict:
    r = paired_row(va, vb)
    return {"roadmap": name, "ask": q.ask, "a": q.a, "b": q.b, "published": q.published, "source": q.source, **r,
            "reading": reading(q.published, r["n"], r["delta"], r["resolved"]) if va and vb
            else "not run"}


def to_markdown(df: pd.DataFrame) -> str:
    """The questions as a Markdown table, the roadmap column only when there are several; a reading
    between arms near chance says so, as the report's verdicts do."""
    several = df["roadmap"].nunique() > 1
    rows = []
    for r in df.to_dict(orient="records"):
        means = "" if not r["n"] else f"{r['a_mean']:.2f} -> {r['b_mean']:.2f}"
        cells = [r["ask"], f"{r['b']} − {r['a']}", str(r["n"]), means,
                 text.change(r["delta"], r["delta_ci_low"], r["delta_ci_high"]),
                 r["published"] + (f" ({r['source']})" if r["source"] else ""),
                 r["reading"] + (near_chance((r["a_mean"], r["b_mean"]), df.attrs.get("classes")) if r["n"] else "")]
        rows.append(([r["roadmap"]] if several else []) + cells)
    headers = ["question", "B − A", "n", "A -> B", "Δ [95% CI]", "published direction", "reading"]
    numeric = [False, False, True, True, True, False, False]
    return text.markdown_table((["roadmap"] if several else []) + headers, ([False] if several else []) + numeric,
                               rows)


def to_csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, float_format="%.4g")
