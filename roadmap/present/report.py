"""The numbers of a results figure as a table: Markdown to paste, or CSV.

Same rows as the figure (roadmap.present.aggregate.result_rows): every step of the roadmap in order, not-run and
failed steps included, the change measured from the previous *adopted* step.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from roadmap.present.aggregate import result_rows, roadmaps_of
from roadmap.runs.table import read_results, read_run

COLUMNS = ["regime", "step", "label", "adopted", "status", "top1", "top1_std", "n", "change",
           "paper_top1", "paper_change", "params_m", "gflops", "train_img_s", "error"]
# Markdown header per column; right-aligned where the cell is a number
HEADERS = {
    "regime": ("regime", False), "step": ("step", False), "label": ("label", False),
    "top1": ("top-1 mean ± std (n)", True), "change": ("change vs prev. adopted", True),
    "paper_top1": ("paper top-1", True), "paper_change": ("paper change", True),
    "params_m": ("params (M)", True), "gflops": ("GFLOPs", True), "train_img_s": ("train img/s", True),
}


def report_table(folder: str | Path) -> pd.DataFrame:
    """One row per roadmap step (per regime when both were run), numbers unformatted."""
    table = read_results(folder)
    rows = result_rows(table, roadmaps_of(table, read_run(folder)))
    out = pd.DataFrame({
        "regime": rows["regime"], "step": rows["step"], "label": rows["label"], "adopted": rows["adopted"],
        "status": rows["status"], "top1": rows["value"], "top1_std": rows["err"], "n": rows["n"],
        "change": rows["delta"], "paper_top1": rows["paper_top1"], "paper_change": rows["paper_delta"],
        "params_m": rows["params"] / 1e6, "gflops": rows["gflops"], "train_img_s": rows["train_img_s"],
        "error": rows["error"],
    })
    return out[COLUMNS].reset_index(drop=True)


def to_csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, float_format="%.4g")


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub Markdown table; the regime column only when the run covers more than one."""
    cols = [c for c in HEADERS if c != "regime" or df["regime"].nunique() > 1]
    lines = ["| " + " | ".join(HEADERS[c][0] for c in cols) + " |",
             "|" + "|".join("---:" if HEADERS[c][1] else "---" for c in cols) + "|"]
    for r in df.to_dict(orient="records"):
        cells = [_cell(c, r) for c in cols]
        lines.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(col: str, r: dict) -> str:
    if col == "label":
        return r["label"] + ("" if r["adopted"] else " (not adopted)")
    if col == "top1":
        if r["status"] == "missing":
            return "not run"
        if _nan(r["top1"]):
            reason = " ".join(str(r["error"] or "").split())
            reason = reason if len(reason) <= 60 else reason[:59] + "…"
            return f"{r['status']}: {reason}" if reason else str(r["status"])
        std = "" if _nan(r["top1_std"]) else f" ± {r['top1_std']:.2f}"
        return f"{r['top1']:.2f}{std} ({int(r['n'])})"
    if col in ("change", "paper_change"):
        return "" if _nan(r[col]) else f"{r[col]:+.2f}"
    if col == "train_img_s":
        return "" if _nan(r[col]) else f"{r[col]:,.0f}"
    if col == "gflops":  # small proxies run at millions of multiply-adds: keep 3 significant digits
        return "" if _nan(r[col]) else f"{r[col]:.3g}"
    if col in ("paper_top1", "params_m"):
        return "" if _nan(r[col]) else f"{r[col]:.2f}"
    return str(r[col])


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))
