"""The agreement figure: each step's change against its parent, one point per run with its interval,
the paper's change beside them. A reader sees which steps keep their sign as the budget grows.

One row per step change, in the roadmap's order; within a row, the paper's Δ (a black diamond with
its Welch interval) on top, then each run (a colour each, smallest budget first) with its paired
95% interval. A filled marker is resolved (the interval excludes 0), a hollow one is not. The
numbers are `roadmap.present.agreement.agreement_tables`; this only draws them.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from roadmap.errors import RoadmapError
from roadmap.present.figure_kit import INK, check_path, pretty, save

RUN_COLORS = ["#5B6C8F", "#D08C2E", "#2E7D32", "#8E44AD", "#C62828"]
PAPER = "#111111"


def draw_agreement(steps: pd.DataFrame, measures: pd.DataFrame, path: str | Path, dpi: int = 170) -> Path:
    out = check_path(path)
    runs = steps.attrs["runs"]
    rows = steps[steps["parent"].notna()].reset_index(drop=True)
    n, k = len(rows), len(runs)
    if n == 0:
        raise RoadmapError("the runs have no step change in common with the paper to draw (each needs a step "
                           "and its parent finished)")
    slot = 0.8 / (k + 1)  # paper and runs share a row
    legend_h = 0.2 * (k + 2)
    fig = Figure(figsize=(10.5, 2.2 + legend_h + 0.5 * n))
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0.25, (0.85 + legend_h) / fig.get_figheight(), 0.70,
                       1 - (1.85 + legend_h) / fig.get_figheight()])
    ax.set_ylim(n - 0.5, -0.5)
    ax.axvline(0, color=INK, linewidth=1.0, zorder=1)
    values = [v for v in rows[["paper_low", "paper_delta", "paper_high"]].to_numpy().ravel() if not math.isnan(v)]
    for j in range(k):
        values += [v for v in rows[[f"delta_low_{j}", f"delta_{j}", f"delta_high_{j}"]].to_numpy().ravel()
                   if not math.isnan(v)]
    span = max([abs(v) for v in values] + [1.0]) * 1.08
    ax.set_xlim(-span, span)
    for y, r in enumerate(rows.to_dict(orient="records")):
        ax.text(-span * 1.03, y, pretty(r["label"]), ha="right", va="center", fontsize=9.5)
        y0 = y - 0.4 + slot / 2
        _point(ax, r["paper_delta"], r["paper_low"], r["paper_high"], y0, PAPER, "D", r["paper_resolved"])
        for j in range(k):
            _point(ax, r[f"delta_{j}"], r[f"delta_low_{j}"], r[f"delta_high_{j}"], y0 + (j + 1) * slot,
                   RUN_COLORS[j % len(RUN_COLORS)], "o", r[f"resolved_{j}"])
        if y % 2 == 0:
            ax.axhspan(y - 0.5, y + 0.5, color="#F4F4F4", zorder=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", left=False, labelleft=False)
    ax.grid(axis="x", color="#E4E4E4", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_xlabel("Δ top-1 (points) of each step against the step it starts from", fontsize=9.5)
    handles = [Line2D([], [], color=PAPER, marker="D", linestyle="", label="paper (Table 10)")]
    for j, run in enumerate(runs):  # each run's rank agreement with the paper, in its legend entry
        rho = measures[measures["comparison"] == f"{run} vs paper"].set_index("measure").loc["rho_changes"]
        handles.append(Line2D([], [], color=RUN_COLORS[j % len(RUN_COLORS)], marker="o",
                              label=f"{run}  (Spearman ρ of its changes with the paper's: {rho['value']:+.2f} "
                                    f"[{rho['ci_low']:+.2f}, {rho['ci_high']:+.2f}])"))
    handles += [Line2D([], [], color="#777777", marker="o", markerfacecolor="white", linestyle="",
                       label="hollow: the 95% interval holds 0")]
    fig.legend(handles=handles, loc="lower center", ncol=1, frameon=False, fontsize=8.5,
               bbox_to_anchor=(0.5, 0.05 / fig.get_figheight()))
    fig.suptitle("Step changes across runs, beside the paper's", fontsize=12.5, fontweight="bold",
                 y=1 - 0.25 / fig.get_figheight())
    fig.text(0.5, 1 - 0.55 / fig.get_figheight(), "paired 95% t-intervals over seeds; the paper's from its "
             "mean ± std (Welch)", ha="center", va="center", fontsize=9, color="#444444")
    return save(fig, out, dpi)


def _point(ax, x: float, low: float, high: float, y: float, color: str, marker: str, resolved: bool) -> None:
    if math.isnan(x):
        return
    if not math.isnan(low):
        ax.hlines(y, low, high, color=color, linewidth=1.6, alpha=0.85)
    ax.plot(x, y, marker=marker, markersize=6, color=color, markerfacecolor=color if resolved else "white",
            markeredgewidth=1.4, linestyle="")
