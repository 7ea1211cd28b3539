"""The numbers of a results figure as a table: Markdown to paste, or CSV.

Same rows as the figure (roadmap.present.aggregate.result_rows): every step of the roadmap in order, not-run and
failed steps included, the change measured from the previous *adopted* step.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from roadmap.present.aggregate import result_rows
from roadmap.present.questions import question_table
from roadmap.present.roadmaps import roadmaps_of
from roadmap.present.run_facts import classes_of
from roadmap.present.selection import by_settings, of_design, of_roadmap, split_by
from roadmap.present.stats import near_chance
from roadmap.present.text import change, markdown_table, verdict
from roadmap.runs.folder import RunFolder
from roadmap.runs.table import read_results, read_runs

COLUMNS = ["regime", "step", "label", "adopted", "status", "n", "top1_mean", "top1_std", "top1_ci_low",
           "top1_ci_high", "parent", "delta", "delta_ci_low", "delta_ci_high", "p_improve", "resolved",
           "seeds_needed", "paper_top1", "paper_delta", "paper_resolved", "params_m", "gflops", "train_img_s",
           "error"]
# Markdown header per column; right-aligned where the cell is a number
HEADERS = {
    "regime": ("regime", False), "step": ("step", False), "label": ("label", False),
    "top1_mean": ("top-1 mean [95% CI] (n)", True), "delta": ("Δ vs parent [95% CI]", True),
    "resolved": ("verdict", False), "seeds_needed": ("seeds for 80% power", True),
    "paper_top1": ("paper top-1", True), "paper_delta": ("paper Δ (Welch)", True),
    "params_m": ("params (M)", True), "gflops": ("GFLOPs", True), "train_img_s": ("train img/s", True),
}


def report_table(folder: str | Path, design: str = "path", roadmap: str | None = None) -> pd.DataFrame:
    """One row per roadmap step (per regime when both were run), numbers unformatted.

    Intervals are 95% Student-t: of the mean over seeds, and of the delta against the parent (the
    previous adopted step) paired by seed; `resolved` when that interval excludes 0. The paper's
    delta is Welch's on Table 10's mean ± std over 3 seeds (see roadmap.present.stats). For an
    ablation design the parent of every variant is the design's reference model. `roadmap`: only
    that roadmap's rows, when the folder holds several.
    """
    folder = RunFolder(folder)  # one reader for the folder: each file read once
    table = of_roadmap(of_design(read_results(folder), design, folder), roadmap, folder)
    return _report(table, folder)


def report_tables(folder: str | Path, design: str = "path", roadmap: str | None = None,
                  by: str | None = None) -> list[tuple[str, pd.DataFrame]]:
    """report_table once per roadmap the rows hold and per value of `by` ("epochs=10", ...), each
    under its label ("convnext-t-step7-split, epochs=10"; "" for a folder of one roadmap and no `by`)."""
    folder = RunFolder(folder)  # one reader for the folder: each file read once
    parts = []
    for title, name, part in _parts(folder, design, roadmap, by):
        df = _report(part, folder)
        df.attrs["roadmap"] = name
        df.attrs["by"] = part.attrs["by"]
        parts.append((title, df))
    return parts


def question_tables(folder: str | Path, roadmap: str | None = None,
                    by: str | None = None) -> list[tuple[str, pd.DataFrame]]:
    """The questions each roadmap file poses (roadmap.present.questions), read from the same rows as
    report_tables' parts, under the same labels; parts whose roadmap poses none are left out."""
    folder = RunFolder(folder)
    classes = classes_of(read_runs(folder))
    out = []
    for title, name, part in _parts(folder, "path", roadmap, by):
        asked = question_table(part, roadmaps_of(part, read_runs(folder)))
        if len(asked):
            asked.attrs["classes"] = classes
            asked.attrs["by"] = part.attrs["by"]
            out.append((title, asked))
    return out


def _parts(folder: RunFolder, design: str, roadmap: str | None, by: str | None):
    """(title, roadmap name, rows) per roadmap the rows hold and per value of `by`; the rows carry
    the value's settings in `.attrs["by"]` ({"epochs": "30"}; "" for the recipe's own)."""
    table = of_roadmap(of_design(read_results(folder), design, folder), roadmap, folder)
    names = table["roadmap"].fillna("").astype(str)
    groups = list(dict.fromkeys(names))
    for name in groups:
        for label, part in split_by(table[names == name], by, folder):
            part = part.copy()
            part.attrs["by"] = by_settings(label, by)
            yield ", ".join(x for x in (name if len(groups) > 1 else "", label) if x), name, part


def _report(table: pd.DataFrame, folder: str | Path) -> pd.DataFrame:
    rows = result_rows(table, roadmaps_of(table, read_runs(folder)))
    out = pd.DataFrame({
        "regime": rows["regime"], "step": rows["step"], "label": rows["label"], "adopted": rows["adopted"],
        "status": rows["status"], "n": rows["n"], "top1_mean": rows["value"], "top1_std": rows["err"],
        "top1_ci_low": rows["ci_low"], "top1_ci_high": rows["ci_high"], "parent": rows["parent"],
        "delta": rows["delta"], "delta_ci_low": rows["delta_low"], "delta_ci_high": rows["delta_high"],
        "p_improve": rows["p_improve"], "resolved": rows["resolved"], "seeds_needed": rows["seeds_needed"],
        "paper_top1": rows["paper_top1"], "paper_delta": rows["paper_delta"],
        "paper_resolved": rows["paper_resolved"], "params_m": rows["params"] / 1e6, "gflops": rows["gflops"],
        "train_img_s": rows["train_img_s"], "error": rows["error"],
    })
    out = out[COLUMNS].reset_index(drop=True)
    out.attrs["classes"] = classes_of(read_runs(folder))
    return out


def to_csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, float_format="%.4g")


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub Markdown table; the regime column only when the run covers more than one."""
    cols = [c for c in HEADERS if c != "regime" or df["regime"].nunique() > 1]
    means = dict(zip(df["step"], df["top1_mean"]))
    rows = []
    for r in df.to_dict(orient="records"):
        cells = [_cell(c, r) for c in cols]
        if "resolved" in cols and cells[cols.index("resolved")]:  # a verdict between two arms near chance says so
            arms = (r["top1_mean"], means.get(r["parent"], math.nan))
            cells[cols.index("resolved")] += near_chance(arms, df.attrs.get("classes"))
        rows.append(cells)
    return markdown_table([HEADERS[c][0] for c in cols], [HEADERS[c][1] for c in cols], rows)


def _cell(col: str, r: dict) -> str:
    if col == "label":
        return r["label"] + ("" if r["adopted"] else " (not adopted)")
    if col == "top1_mean":
        if r["status"] == "missing":
            return "not run"
        if _nan(r["top1_mean"]):
            reason = " ".join(str(r["error"] or "").split())
            reason = reason if len(reason) <= 60 else reason[:59] + "…"
            return f"{r['status']}: {reason}" if reason else str(r["status"])
        ci = "" if _nan(r["top1_ci_low"]) else f" [{r['top1_ci_low']:.2f}, {r['top1_ci_high']:.2f}]"
        return f"{r['top1_mean']:.2f}{ci} ({int(r['n'])})"
    if col == "delta":
        return change(r["delta"], r["delta_ci_low"], r["delta_ci_high"])
    if col == "resolved":
        return verdict(r["delta"], r["delta_ci_low"], r["resolved"])
    if col == "seeds_needed":  # the seeds that would resolve it: nothing to say once it is resolved
        return "" if _nan(r[col]) or r["resolved"] else str(int(r[col]))
    if col == "paper_delta":
        return "" if _nan(r[col]) else f"{r[col]:+.2f}" + ("" if r["paper_resolved"] else " ≈")
    if col == "train_img_s":
        return "" if _nan(r[col]) else f"{r[col]:,.0f}"
    if col == "gflops":  # small proxies run at millions of multiply-adds: keep 3 significant digits
        return "" if _nan(r[col]) else f"{r[col]:.3g}"
    if col in ("paper_top1", "params_m"):
        return "" if _nan(r[col]) else f"{r[col]:.2f}"
    return str(r[col])


def _nan(x) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))
