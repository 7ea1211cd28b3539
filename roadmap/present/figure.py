"""Figure 2 of the ConvNeXt paper, drawn from the paper's numbers or a results folder.

Drawing only: the rows come from `roadmap.present.aggregate` (paper_rows, result_rows); this
module lays them out in the paper's style with matplotlib.
"""
from __future__ import annotations

import math
import textwrap
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Sequence

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.patheffects import withStroke

from roadmap.arch.steps import Roadmap
from roadmap.errors import RoadmapError
from roadmap.present.aggregate import num, paper_rows, result_rows
from roadmap.present.figure_kit import (DARK_GRAY, GRAY, INK, by_values, check_path, flops, pretty, save, short,
                                       subtitle, suffixed)
from roadmap.present.roadmaps import as_roadmap, roadmaps_of
from roadmap.present.run_facts import run_facts
from roadmap.present.selection import of_design, split_by
from roadmap.present.text import signed
from roadmap.runs.table import read_results, read_run, read_runs

PAPER_ROADMAPS = ("convnext-t", "convnext-b")


def fig2(x: float | None) -> str:
    """A number as Figure 2 prints it: the table's two decimals, rounded half-up to one (80.35 -> 80.4)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    # Decimal on the 2-decimal string: float rounding would give 80.3 for 80.35.
    return str(Decimal(f"{x:.2f}").quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


COLORS = {  # one hue per group of Figure 2, for the first (coloured) regime
    "": "#5B6C8F", "Macro design": "#4C8FBF", "ResNeXt": "#59A987", "Inverted bottleneck": "#E0A03A",
    "Large kernel": "#D0655A", "Micro design": "#9A7BC0",
}
LABEL_CHARS = 48  # the longest step label drawn whole


def _palette(rows: pd.DataFrame) -> dict:
    """Figure 2's hue per known group; other groups take the hues no group of these rows has yet,
    in order (and repeat only once all are taken)."""
    groups = [g for g in dict.fromkeys(rows["group"].fillna("")) if g]
    taken = {COLORS[g] for g in groups if g in COLORS}
    hues = list(COLORS.values())[1:]
    free = [h for h in hues if h not in taken] + [h for h in hues if h in taken]
    unknown = [g for g in groups if g not in COLORS]
    return {**COLORS, **{g: free[i % len(free)] for i, g in enumerate(unknown)}}


def draw_paper(path: str | Path, roadmaps: Sequence[Roadmap | str] = PAPER_ROADMAPS, dpi: int = 170) -> Path:
    """Figure 2 from the paper's numbers: first roadmap in colour, the second as gray bars behind it."""
    path = check_path(path)
    rms = [as_roadmap(r) for r in roadmaps]
    rows = paper_rows(rms)
    order, regimes = _row_order(rows), list(dict.fromkeys(rows["roadmap"]))
    fig, ax, ax_right = _frame(rows, order, right_in=2.5, header=1.2)
    vals = rows["value"].dropna().tolist() + [num(rm.reference.get("top1")) for rm in rms]
    vals = [v for v in vals if not math.isnan(v)]
    lo, hi = math.floor(min(vals)) - 1, max(vals) + 0.9  # room after the longest bar for its value
    ax.set_xlim(lo, hi)
    _grid(ax, len(order))

    palette = _palette(rows)
    for k, name in enumerate(regimes):
        fg = k == 0  # the first roadmap is the coloured one; the other(s) gray, drawn behind it
        for r in rows[rows["roadmap"] == name].itertuples():
            if math.isnan(r.value):
                continue
            y = order.index(r.step)
            color = palette.get(r.group, COLORS[""]) if fg else GRAY
            ax.barh(y, r.value - lo, left=lo, height=0.56 if fg else 0.8, color=color, zorder=3 if fg else 2,
                    edgecolor="white" if fg else "#A8A8A8", linewidth=0.6, hatch=None if r.adopted else "////")
            if fg:  # inside the coloured bar's end, as Figure 2 prints it; outlined to stay legible on hatching
                ax.text(r.value - 0.06, y, fig2(r.value), ha="right", va="center", fontsize=9, color="white",
                        fontweight="bold", zorder=5, path_effects=[withStroke(linewidth=2.5, foreground=color)])
            else:
                front = rows[(rows["roadmap"] == regimes[0]) & (rows["step"] == r.step)]["value"]
                end = max([r.value] + [v for v in front if not math.isnan(v)])
                ax.text(end + 0.06, y, fig2(r.value), ha="left", va="center", fontsize=9, color=DARK_GRAY, zorder=5,
                        bbox=dict(boxstyle="square,pad=0.1", facecolor="white", edgecolor="none"))
            if fg and not math.isnan(r.delta):  # Table 10's gain, resolved or not by Welch on 3-seed mean ± std
                ax_right.text(0.19, y, f"{'' if r.resolved else '≈ '}{r.delta:+.2f}", ha="center", va="center",
                              fontsize=9, color=_delta_color(r.delta, r.resolved, True))
            ax_right.text(0.58 + 0.3 * k, y, fig2(r.gflops) + "G", ha="center", va="center", fontsize=9,
                          color=INK if fg else DARK_GRAY)
    for k, name in enumerate(regimes[:2]):
        ax_right.text(0.58 + 0.3 * k, -0.85, rms[k].regime, ha="center", va="center", fontsize=8.5,
                      color=INK if k == 0 else DARK_GRAY)
    ax_right.text(0.73, -1.3, "GFLOPs", ha="center", va="center", fontsize=9.5, fontweight="bold")
    ax_right.text(0.19, -1.05, f"Δ {rms[0].regime}\n(Welch, 95%)", ha="center", va="center", fontsize=9,
                  fontweight="bold")

    # The Swin references: a dashed line per regime, labelled at the top like Figure 2's last row.
    for k, rm in enumerate(rms[:2]):
        ref = rm.reference
        if "top1" not in ref:
            continue
        color = INK if k == 0 else DARK_GRAY
        # between the gray bars (2) and the coloured ones (3): it never crosses a printed value
        ax.vlines(ref["top1"], -0.6, len(order) - 0.5, color=color, linestyle=(0, (4, 3)), linewidth=1.1, zorder=2.5)
        ax.text(ref["top1"], -0.85 - (0.45 if k == 1 and _close(rms, 0.9) else 0), f"{ref.get('label', 'reference')} "
                f"{fig2(ref['top1'])}" + (f" ({fig2(ref['gflops'])}G)" if "gflops" in ref else ""),
                ha="center", va="center", fontsize=9, color=color,
                bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none"), zorder=6)

    ax.set_xlabel("ImageNet-1K top-1 accuracy (%)", fontsize=10)
    handles = [_colour_handle(f"{pretty(rms[0].title)} (Table 10, 3 seeds)")]
    if len(rms) > 1:
        handles.append(Patch(facecolor=GRAY, edgecolor="#A8A8A8", label=f"{pretty(rms[1].title)} (Table 11)"))
    handles += [Patch(facecolor="white", edgecolor=DARK_GRAY, hatch="////", label="not adopted"),
                Line2D([], [], color=INK, linestyle=(0, (4, 3)), label="Swin reference"),
                Patch(facecolor="white", edgecolor="white", label="≈ grey Δ: not resolved by Welch's 95% interval")]
    _legend(fig, handles)
    title = " and ".join(pretty(rm.title) for rm in rms)
    fig.suptitle("Modernizing a standard ConvNet (ResNet) toward a hierarchical vision Transformer (Swin)", fontsize=13,
                 fontweight="bold", y=1 - 0.28 / fig.get_figheight())
    fig.text(0.5, 1 - 0.6 / fig.get_figheight(), f"{title}: ImageNet-1K top-1 and GFLOPs (Liu et al. 2022, Figure 2)",
             ha="center", va="center", fontsize=10, color="#444444")
    return save(fig, path, dpi)


def draw_results(folder: str | Path, path: str | Path | None = None, dpi: int = 170,
                 roadmaps: list[str] | None = None, by: tuple[str, str] | None = None) -> Path:
    """A reproduced run in Figure 2's style: mean top-1 per step, seed spread, the paper's value beside it.

    `roadmaps`: the names of the roadmaps to draw (default: every one in the folder); `by`: (KEY, label)
    draws only the rows of one value of a swept setting (labels from roadmap.present.selection.split_by)."""
    folder = Path(folder)
    table = of_design(read_results(folder), "path", folder)
    if roadmaps is not None:
        table = table[table["roadmap"].isin(roadmaps)]
    if by is not None:
        table = dict(split_by(table, by[0], folder))[by[1]]
    run = read_run(folder)
    facts = run_facts(table, run)
    path = check_path(path if path is not None else Path("plots") / f"{folder.resolve().name}.png")
    rms = {rm.name: rm for rm in roadmaps_of(table, read_runs(folder))}
    rows = result_rows(table, list(rms.values()))
    order, regimes = _row_order(rows), list(dict.fromkeys(rows["roadmap"]))
    two = len(regimes) > 1
    offsets = [-0.2, 0.2] if two else [0.0]
    height = 0.36 if two else 0.62
    # the paper's column only for steps the paper measured (a roadmap of your own has none)
    has_paper = bool(rows["paper_top1"].notna().any())
    cols = (0.2, 0.45, 0.96) if has_paper else (0.33, None, 0.93)
    fig, ax, ax_right = _frame(rows, order, right_in=3.4 if has_paper else 2.1, header=1.0,
                               row_h=0.62 if two else 0.46, label_dy=(-0.2, 0.2))
    ok = rows[~rows["value"].isna()]
    lo_v = ok["ci_low"].fillna(ok["value"]).min() if len(ok) else 0.0
    hi_v = ok["ci_high"].fillna(ok["value"]).max() if len(ok) else 100.0
    span = max(hi_v - lo_v, 2.0)
    # Small proxies sit far below ImageNet: the range follows the data, with room for the value text.
    lo = max(0.0, lo_v - 0.3 * span)
    hi = min(100.0 + 0.3 * span, hi_v + 0.28 * span)
    ax.set_xlim(lo, hi)
    _grid(ax, len(order))
    max_n = int(ok["n"].max()) if len(ok) else 0

    palette = _palette(rows)
    for k, name in enumerate(regimes[:2]):  # a figure holds two regimes, like the paper's
        dy = offsets[k]
        for r in rows[rows["roadmap"] == name].itertuples():
            y = order.index(r.step) + dy
            fg = k == 0
            if r.missing or math.isnan(r.value):
                failed = not r.missing
                ax.add_patch(Rectangle((lo, y - height / 2), (hi - lo) * 0.98, height, fill=False, zorder=2,
                                       edgecolor="#C0392B" if failed else "#B0B0B0", linestyle=(0, (3, 3)),
                                       linewidth=0.8))
                text = f"{r.status}: {short(r.error, 60)}" if failed and r.error else (r.status if failed else "not run")
                ax.text(lo + 0.015 * (hi - lo), y, text, ha="left", va="center", fontsize=8, style="italic",
                        color="#C0392B" if failed else "#909090", zorder=5)
                continue
            color = palette.get(r.group, COLORS[""]) if fg else GRAY
            ax.barh(y, r.value - lo, left=lo, height=height, color=color, zorder=3,
                    edgecolor="white" if fg else "#A8A8A8", linewidth=0.6, hatch=None if r.adopted else "////")
            end = r.value
            if r.n > 1 and not math.isnan(r.ci_low):
                ax.errorbar(r.value, y, xerr=[[r.value - r.ci_low], [r.ci_high - r.value]], fmt="none", ecolor=INK,
                            elinewidth=1.0, capsize=2.5, zorder=4)
                end = r.ci_high
            label = f"{r.value:.1f}" + (f" (n={r.n}" + (f", {r.n_failed} failed" if r.n_failed else "") + ")"
                                        if r.n != max_n or r.n_failed else "")
            ax.text(end + 0.01 * (hi - lo), y, label, ha="left", va="center", fontsize=8.5 if two else 9,
                    color=INK if fg else DARK_GRAY, zorder=5)
        # the numbers beside the bars: change from the previous adopted step, then the paper's
        for r in rows[rows["roadmap"] == name].itertuples():
            y = order.index(r.step) + dy
            size = 8 if two else 9
            if not math.isnan(r.delta):
                ax_right.text(cols[0], y, _delta_text(r.delta, r.delta_low, r.delta_high, r.resolved), ha="center",
                              va="center", fontsize=size, color=_delta_color(r.delta, r.resolved, k == 0))
            paper = fig2(r.paper_top1)
            if paper:
                pd_ = f" ({'' if r.paper_resolved else '≈'}{signed(r.paper_delta, 1)})" \
                    if not math.isnan(r.paper_delta) else ""
                ax_right.text(cols[1], y, f"{paper}{pd_}", ha="left", va="center", fontsize=size,
                              color=DARK_GRAY)
            if not math.isnan(r.gflops):
                ax_right.text(cols[2], y, flops(r.gflops), ha="right", va="center", fontsize=size,
                              color=DARK_GRAY)
    heads = [(cols[0], "Δ prev. adopted\n[95% CI, paired]", "center"), (cols[2], "FLOPs\n(run)", "right")]
    if has_paper:
        paper_data = rms[regimes[0]].paper_data if regimes[0] in rms else "ImageNet"
        heads.insert(1, (cols[1], f"paper top-1\n({paper_data})", "left"))
    for x, text, ha in heads:
        ax_right.text(x, -0.95, text, ha=ha, va="center", fontsize=8.5, fontweight="bold")
    ax.set_xlabel(f"top-1 accuracy (%) on {facts['data']}", fontsize=10)

    handles = []
    for k, name in enumerate(regimes[:2]):
        title = rms[name].title if name in rms else Path(name).stem
        handles.append(_colour_handle(pretty(title)) if k == 0 else
                       Patch(facecolor=GRAY, edgecolor="#A8A8A8", label=pretty(title)))
    if not rows["adopted"].all():
        handles.append(Patch(facecolor="white", edgecolor=DARK_GRAY, hatch="////", label="not adopted"))
    if max_n > 1:
        handles.append(Line2D([], [], color=INK, marker="|", markersize=8, label="95% CI over seeds (t)"))
    if rows["delta"].notna().any():
        handles.append(Patch(facecolor="white", edgecolor="white", label="≈ grey Δ: within seed noise"))
    if rows["missing"].any():
        handles.append(Patch(facecolor="white", edgecolor="#B0B0B0", linestyle=(0, (3, 3)), label="not run"))
    if (~rows["missing"] & rows["value"].isna()).any():
        handles.append(Patch(facecolor="white", edgecolor="#C0392B", linestyle=(0, (3, 3)), label="failed (reason)"))
    _legend(fig, handles)
    titles = " and ".join(pretty(rms[n].title if n in rms else Path(n).stem) for n in regimes)
    fig.suptitle(f"{titles}, reproduced ({folder.name})", fontsize=13, fontweight="bold",
                 y=1 - 0.28 / fig.get_figheight())
    fig.text(0.5, 1 - 0.6 / fig.get_figheight(), subtitle(facts), ha="center", va="center",
             fontsize=9.5, color="#444444")
    return save(fig, path, dpi)


def figure_groups(folder: str | Path) -> list[list[str]]:
    """Which roadmaps of a folder share a figure: regimes of one roadmap (the same step ids, like
    ResNet-50 -> ConvNeXt-T and ResNet-200 -> ConvNeXt-B) are drawn together, as in the paper; any
    other roadmap gets a figure of its own, so labels and bars stay aligned."""
    table = of_design(read_results(folder), "path", folder)
    rms = {rm.name: rm for rm in roadmaps_of(table, read_runs(folder))}
    names = list(dict.fromkeys(table["roadmap"].dropna().astype(str)))
    groups: list[list[str]] = []
    for name in names:
        ids = rms[name].ids if name in rms else None
        for g in groups:
            if ids is not None and g[0] in rms and rms[g[0]].ids == ids and len(g) < 2:
                g.append(name)
                break
        else:
            groups.append([name])
    return groups


def draw_results_figures(folder: str | Path, out: str | Path | None = None, dpi: int = 170,
                         roadmap: str | None = None, by: str | None = None) -> list[Path]:
    """Every figure `roadmap plot --results` draws: one per group of roadmaps (figure_groups; only
    `roadmap`'s, if named) and per value of the swept setting `by`. `out` names the one figure
    when there is one; otherwise they go to plots/FOLDER[-ROADMAP][-KEYVALUE].png."""
    groups = figure_groups(folder)
    if roadmap:
        names = [name for g in groups for name in g]
        if roadmap not in names:
            raise RoadmapError(f"{folder} has no rows of roadmap {roadmap!r}; it has {', '.join(names)}")
        groups = [[roadmap]]
    if len(groups) > 1 and out:
        raise RoadmapError(f"{folder} holds roadmaps that need {len(groups)} figures "
                           f"({'; '.join(' + '.join(g) for g in groups)}); leave out -o to write one each")
    values = by_values(folder, by, out)
    stem = Path("plots") / Path(folder).resolve().name
    written = []
    for group in groups:
        for value in values:
            name = stem if len(groups) == 1 else Path(f"{stem}-{group[0]}")
            written.append(draw_results(folder, out or suffixed(name, value), dpi=dpi, roadmaps=group,
                                        by=(by, value) if value is not None else None))
    return written


def _frame(rows: pd.DataFrame, order: list[str], right_in: float, header: float, row_h: float = 0.46,
           label_dy: tuple[float, float] = (-0.14, 0.2)):
    """The figure and its panels, sharing rows: group brackets | step labels | bars | numbers."""
    labels = _row_labels(rows, order)
    two_line = any("\n" in v for v in labels.values())
    longest = max((len(line) for v in labels.values() for line in v.split("\n")), default=0)
    # the label column fits the longest label (about 0.075 in per character at 10 pt), so that no
    # label runs into the group brackets; past LABEL_CHARS a label is shortened with an ellipsis
    group_in, bars_in = 1.35, 5.2
    label_in = max(1.75 if two_line else 1.55, 0.075 * min(longest, LABEL_CHARS) + 0.25)
    width = group_in + label_in + bars_in + right_in + 0.3
    top_in, bottom_in = 0.95, 1.15
    height = top_in + bottom_in + row_h * (len(order) + header)
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(1, 4, width_ratios=[group_in, label_in, bars_in, right_in], wspace=0,
                          left=0.15 / width, right=1 - 0.15 / width, top=1 - top_in / height, bottom=bottom_in / height)
    ax_group = fig.add_subplot(gs[0, 0])
    ax_label = fig.add_subplot(gs[0, 1], sharey=ax_group)
    ax = fig.add_subplot(gs[0, 2], sharey=ax_group)
    ax_right = fig.add_subplot(gs[0, 3], sharey=ax_group)
    for a in (ax_group, ax_label, ax_right):
        a.set_xlim(0, 1)
        a.axis("off")
    ax_group.set_ylim(len(order) - 0.5, -0.5 - header)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", left=False, labelleft=False)
    ax.tick_params(axis="x", labelsize=9)

    for y, sid in enumerate(order):
        first, *rest = (short(x, LABEL_CHARS) for x in labels[sid].split("\n"))
        if rest:  # the second regime's label, when it differs, in that regime's gray
            ax_label.text(0.96, y + label_dy[0], first, ha="right", va="center", fontsize=10)
            ax_label.text(0.96, y + label_dy[1], rest[0], ha="right", va="center", fontsize=8.5, color=DARK_GRAY)
        else:
            ax_label.text(0.96, y, first, ha="right", va="center", fontsize=10)

    groups = _group_spans(rows, order)
    for name, y0, y1 in groups:
        if not name:
            continue
        ax_group.plot([0.93, 0.97, 0.97, 0.93], [y0 - 0.38, y0 - 0.38, y1 + 0.38, y1 + 0.38], color="#555555",
                      linewidth=1.0, solid_capstyle="butt")
        ax_group.text(0.88, (y0 + y1) / 2, textwrap.fill(name, 12), ha="right", va="center", fontsize=10,
                      fontweight="bold", color="#333333", linespacing=1.1)
    for _, y0, _ in groups[1:]:  # a thin rule between groups, across the bars, like Figure 2's blocks
        ax.axhline(y0 - 0.5, color="#D0D0D0", linewidth=0.8, zorder=1)
    return fig, ax, ax_right


def _grid(ax, n_rows: int) -> None:
    """Vertical grid lines over the rows only (not through the header with the reference labels)."""
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    ax.vlines(ticks, -0.55, n_rows - 0.5, color="#E4E4E4", linewidth=0.8, zorder=0)


def _row_order(rows: pd.DataFrame) -> list[str]:
    """Step ids top to bottom: the first roadmap's order, other roadmaps' extra steps after their predecessor."""
    order: list[str] = []
    for _, g in rows.groupby("roadmap", sort=False):
        prev = None
        for sid in g["step"]:
            if sid not in order:
                order.insert(order.index(prev) + 1 if prev in order else len(order), sid)
            prev = sid
    return order


def _row_labels(rows: pd.DataFrame, order: list[str]) -> dict[str, str]:
    out = {}
    for sid in order:
        labels = list(dict.fromkeys(rows.loc[rows["step"] == sid, "label"]))
        out[sid] = "\n".join(pretty(x) for x in labels[:2])
    return out


def _group_spans(rows: pd.DataFrame, order: list[str]) -> list[tuple[str, int, int]]:
    group = {sid: next((g for g in rows.loc[rows["step"] == sid, "group"] if g), "") for sid in order}
    spans: list[tuple[str, int, int]] = []
    for y, sid in enumerate(order):
        if spans and spans[-1][0] == group[sid]:
            spans[-1] = (group[sid], spans[-1][1], y)
        else:
            spans.append((group[sid], y, y))
    return spans


class _ColourHandle(tuple):
    """A legend entry showing every group's colour: the coloured regime has one hue per group."""

    def get_label(self):
        return self.label


def _colour_handle(label: str) -> _ColourHandle:
    h = _ColourHandle(Patch(facecolor=c, edgecolor="white") for c in dict.fromkeys(COLORS.values()))
    h.label = label
    return h


def _legend(fig: Figure, handles: list) -> None:
    fig.legend(handles=handles, labels=[h.get_label() for h in handles], loc="lower center",
               ncol=min(len(handles), 3), frameon=False, fontsize=9, bbox_to_anchor=(0.5, 0.1 / fig.get_figheight()),
               handlelength=3.2, columnspacing=1.6, handler_map={_ColourHandle: HandlerTuple(ndivide=None, pad=0)})


def _delta_color(delta: float, resolved: bool, fg: bool) -> str:
    """Coloured by sign only when the interval excludes zero; grey (within noise) otherwise."""
    if not resolved or not fg:
        return DARK_GRAY
    return "#2E7D32" if delta > 0 else "#C62828"


def _delta_text(delta: float, low: float, high: float, resolved: bool) -> str:
    """"+1.3 [+0.4, +2.2]", with "≈" in front when the interval holds 0 (or there is none: one seed)."""
    ci = f" [{signed(low, 1)}, {signed(high, 1)}]" if not math.isnan(low) else ""
    return f"{'' if resolved else '≈ '}{signed(delta, 1)}{ci}"


def _close(rms: list[Roadmap], gap: float) -> bool:
    """Whether the two references' labels would collide at the top of the bars (then stack them)."""
    tops = [num(rm.reference.get("top1")) for rm in rms[:2]]
    return len(tops) == 2 and abs(tops[0] - tops[1]) < 2 * gap
