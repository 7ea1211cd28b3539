"""A forest plot for the ablation designs: each step's effect against one reference model.

One row per step: the paired delta of its variant (leave-one-out: the final model without the
step; add-one: the base with only the step) against the reference, with its 95% interval; the
reference's mean is the zero line. Where the folder also holds the path design, the step's delta
on the paper's path sits beside it as a hollow diamond, signed the same way (undoing the step,
parent - step, for leave-one-out), so the three readings of "what did this step buy" can be
compared row by row. Green and red say whether the step helps or hurts, when resolved. Variants that cannot be built are listed with the reason.
Drawing only: the numbers are `roadmap.present.aggregate.result_rows`.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from roadmap.arch.steps import Roadmap
from roadmap.errors import RoadmapError
from roadmap.present.aggregate import result_rows
from roadmap.present.roadmaps import roadmaps_of
from roadmap.present.run_facts import run_facts
from roadmap.present.figure_kit import DARK_GRAY, INK, by_values, check_path, pretty, save, subtitle, suffixed
from roadmap.present.selection import split_by
from roadmap.runs.table import read_results, read_run, read_runs

GREEN, RED, GREY, PATH = "#2E7D32", "#C62828", "#8A8A8A", "#5B6C8F"


def forest_rows(folder: str | Path, design: str,
                by: tuple[str, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict, Roadmap]:
    """(the design's rows: reference first, then one per variant; the path design's rows by step id,
    empty when the folder has none; skipped variants -> reason; the design's roadmap). `by`: (KEY,
    label) keeps the rows of one value of a swept setting (labels from selection.split_by)."""
    table = read_results(folder)
    if by is not None:
        table = dict(split_by(table, by[0], folder))[by[1]]
    rms = {rm.name: rm for rm in roadmaps_of(table, read_runs(folder))}
    mine = [rm for name, rm in rms.items() if name.endswith(f"[{design}]")]
    if not mine:
        raise RoadmapError(f"{folder} has no {design} rows; train them with `roadmap run --design {design}`")
    rm = mine[0]
    rows = result_rows(table[table["roadmap"] == rm.name], [rm])
    path = rms.get(rm.name.partition("[")[0])
    on_path = table[table["roadmap"] == path.name] if path is not None else table.iloc[:0]
    path_rows = result_rows(on_path, [path]).set_index("step") if len(on_path) else pd.DataFrame()
    return rows, path_rows, rm.skipped, rm


def draw_forests(folder: str | Path, design: str, out: str | Path | None = None, dpi: int = 170,
                 by: str | None = None) -> list[Path]:
    """One forest per value of the swept setting `by` (one without it): `out`, or
    plots/FOLDER-DESIGN[-KEYVALUE].png."""
    stem = Path("plots") / f"{Path(folder).resolve().name}-{design}"
    return [draw_forest(folder, design, out or suffixed(stem, value), dpi, (by, value) if value else None)
            for value in by_values(folder, by, out)]


def draw_forest(folder: str | Path, design: str, path: str | Path | None = None, dpi: int = 170,
                by: tuple[str, str] | None = None) -> Path:
    folder = Path(folder)
    out = check_path(path if path is not None else Path("plots") / f"{folder.resolve().name}-{design}.png")
    rows, path_rows, skipped, rm = forest_rows(folder, design, by)
    ref = rows.iloc[0]
    variants = rows.iloc[1:]
    labels = [(pretty(r.label), r) for r in variants.itertuples()] + [(v, None) for v in skipped]
    n = len(labels)
    # Leave-one-out undoes a step, so its delta is "without - with": the path's marker shows the same,
    # parent - step. Colour says what the delta means for the step: green if it helps.
    undo = -1.0 if design == "leave-one-out" else 1.0
    fig = Figure(figsize=(10.5, 2.3 + 0.42 * max(n, 1)))
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0.30, 1.0 / fig.get_figheight(), 0.44, 1 - 2.0 / fig.get_figheight()])
    ax.set_ylim(n - 0.5, -0.5)
    ax.axvline(0, color=INK, linewidth=1.0, zorder=1)
    lows = [v for r in variants.itertuples() for v in (r.delta_low, r.delta, r.delta_high) if not math.isnan(v)]
    for r in variants.itertuples():
        unit = _unit(r.step)
        if unit in path_rows.index and not math.isnan(path_rows.loc[unit, "delta"]):
            p = path_rows.loc[unit]
            lows += [v for v in (p["delta_low"], p["delta"], p["delta_high"]) if not math.isnan(v)]
    span = max([abs(v) for v in lows] + [1.0]) * 1.15
    ax.set_xlim(-span, span)
    for y, (label, r) in enumerate(labels):
        fig.text(0.29, _fy(fig, ax, y), label, ha="right", va="center", fontsize=9.5)
        if r is None:
            ax.text(-span * 0.97, y, f"not built: {skipped[label]}"[:110], ha="left", va="center", fontsize=7.5,
                    color=GREY, style="italic")
            continue
        unit = _unit(r.step)
        if unit in path_rows.index and not math.isnan(path_rows.loc[unit, "delta"]):
            p = path_rows.loc[unit]
            if not math.isnan(p["delta_low"]):
                ax.hlines(y + 0.22, undo * p["delta_low"], undo * p["delta_high"], color=PATH, linewidth=1.0,
                          alpha=0.7)
            ax.plot(undo * p["delta"], y + 0.22, marker="D", markersize=5, markerfacecolor="white",
                    markeredgecolor=PATH)
        if math.isnan(r.delta):
            ax.text(0, y, "not run", ha="center", va="center", fontsize=8, color=GREY, style="italic")
            continue
        color = (GREEN if undo * r.delta > 0 else RED) if r.resolved else GREY
        if not math.isnan(r.delta_low):
            ax.hlines(y, r.delta_low, r.delta_high, color=color, linewidth=2.0)
        ax.plot(r.delta, y, marker="o", markersize=6.5, color=color)
        ci = f" [{r.delta_low:+.1f}, {r.delta_high:+.1f}]" if not math.isnan(r.delta_low) else ""
        fig.text(0.76, _fy(fig, ax, y), f"{'' if r.resolved else '≈ '}{r.delta:+.1f}{ci}  (n={int(r.n)})",
                 ha="left", va="center", fontsize=9, color=color if r.resolved else DARK_GRAY)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", left=False, labelleft=False)
    ax.grid(axis="x", color="#E4E4E4", linewidth=0.8)
    ax.set_axisbelow(True)
    word = "the final model" if design == "leave-one-out" else "the base model"
    ref_text = f"{ref.value:.1f}%" if not math.isnan(ref.value) else "not run"
    ax.set_xlabel(f"Δ top-1 (points) against {word}: {pretty(ref.label)}, {ref_text} (the zero line)", fontsize=9.5)
    fig.text(0.76, _fy(fig, ax, -0.85), "Δ vs reference [95% CI, paired]", ha="left", va="center", fontsize=9,
             fontweight="bold")
    handles = [Line2D([], [], color=GREEN, marker="o", label="resolved: the step helps"),
               Line2D([], [], color=RED, marker="o", label="resolved: the step hurts"),
               Line2D([], [], color=GREY, marker="o", label="≈ within seed noise")]
    if len(path_rows):
        handles.append(Line2D([], [], color=PATH, marker="D", markerfacecolor="white", linestyle="",
                              label="on the paper's path: parent − step" if undo < 0 else
                              "on the paper's path: step − parent"))
    fig.legend(handles=handles, loc="lower center", ncol=4, frameon=False, fontsize=8.5,
               bbox_to_anchor=(0.5, 0.04 / fig.get_figheight()))
    what = "without each step" if design == "leave-one-out" else "with each step alone"
    fig.suptitle(f"{pretty(rm.title.rpartition(',')[0])}: {design} ({what})", fontsize=12.5, fontweight="bold",
                 y=1 - 0.25 / fig.get_figheight())
    fig.text(0.5, 1 - 0.55 / fig.get_figheight(), subtitle(run_facts(read_results(folder), read_run(folder))),
             ha="center", va="center", fontsize=9, color="#444444")
    return save(fig, out, dpi)


def _unit(variant: str) -> str:
    """The step a variant ablates: "no-step6.ln" and "only-step6.ln" -> "step6.ln"."""
    return variant.removeprefix("no-").removeprefix("only-")


def _fy(fig: Figure, ax, y: float) -> float:
    """Figure y of data row `y` (for text beside the axes)."""
    return fig.transFigure.inverted().transform(ax.transData.transform((0, y)))[1]
