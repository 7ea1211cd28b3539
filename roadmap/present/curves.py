"""Training curves from epochs.csv: train loss, val loss and val top-1 per epoch, one line per step.

A line is the mean over a step's finished seeds, its band the lowest to the highest seed; colour
runs along the roadmap (dark: the base, light: the final model), dashed lines are steps not adopted.
Seeds that failed are left out (their rows say why), so a band covers the seeds the table counts.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from roadmap.errors import RoadmapError
from roadmap.present.run_facts import run_facts
from roadmap.present.selection import of_design, of_roadmap
from roadmap.present.figure_kit import check_path, pretty, save, subtitle
from roadmap.runs.folder import RunFolder
from roadmap.runs.table import read_results, read_run

PANELS = (("train_loss", "train loss"), ("val_loss", "val loss"), ("top1", "val top-1 (%)"))


def curve_table(folder: str | Path, design: str = "path", steps: list[str] | None = None,
                roadmap: str | None = None) -> pd.DataFrame:
    """epochs.csv of the folder's finished seeds of one roadmap, with each step's order, label and adoption."""
    folder = Path(folder)
    rows = of_roadmap(of_design(read_results(folder), design, folder), roadmap, folder)
    names = list(dict.fromkeys(rows["roadmap"].dropna().astype(str)))
    if len(names) > 1:  # their step ids overlap: one figure would draw two step6.ln lines as one
        raise RoadmapError(f"{folder} holds the curves of several roadmaps ({', '.join(names)}); choose one "
                           "with --roadmap")
    rows = rows[rows["status"] == "ok"]
    if steps:
        unknown = sorted(set(steps) - set(rows["step"]))
        if unknown:
            raise RoadmapError(f"{folder} has no finished {', '.join(unknown)}; it has {', '.join(rows['step'].unique())}")
        rows = rows[rows["step"].isin(steps)]
    path = RunFolder(folder).epochs
    if not path.is_file():
        raise RoadmapError(f"results folder {folder} has no epochs.csv")
    ep = pd.read_csv(path).rename(columns={"roadmap": "epoch_roadmap"})
    keys = rows[["roadmap", "step", "seed", "order", "label", "adopted"]]
    out = ep.merge(keys, on=["step", "seed"], how="inner")
    if "epoch_roadmap" in out:  # epochs written before the column existed count as any roadmap's (as in Table)
        out = out[out["epoch_roadmap"].isna() | (out["epoch_roadmap"] == out["roadmap"])]
    if out.empty:
        raise RoadmapError(f"{path} holds no epochs of the finished rows in {folder}/results.csv")
    return out


def draw_curves(folder: str | Path, path: str | Path | None = None, dpi: int = 170, design: str = "path",
                steps: list[str] | None = None, roadmap: str | None = None) -> Path:
    folder = Path(folder)
    path = check_path(path if path is not None else Path("plots") / f"{folder.resolve().name}-curves.png")
    ep = curve_table(folder, design, steps, roadmap)
    facts = run_facts(of_roadmap(of_design(read_results(folder), design, folder), roadmap, folder), read_run(folder))
    order = ep.groupby(["roadmap", "step"], sort=False)["order"].first().sort_values()
    cmap = colormaps["viridis"]

    fig = Figure(figsize=(15, 4.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    for i, ((roadmap, step), _) in enumerate(order.items()):
        g = ep[(ep["roadmap"] == roadmap) & (ep["step"] == step)]
        stats = g.groupby("epoch")[[c for c, _ in PANELS]].agg(["mean", "min", "max"])
        first = g.iloc[0]
        adopted = str(first["adopted"]) == "True"
        color = cmap(0.85 * i / max(len(order) - 1, 1))  # viridis past 0.85 is too pale on white
        n = g["seed"].nunique()
        final = stats[("top1", "mean")].iloc[-1]
        label = f"{step}  {pretty(str(first['label']))}  ({final:.1f}%, n={n})"
        for ax, (col, _) in zip(axes, PANELS):
            x = stats.index.to_numpy()
            ax.plot(x, stats[(col, "mean")], color=color, linewidth=1.4, linestyle="-" if adopted else "--",
                    marker="o" if len(x) == 1 else None, markersize=4,  # one epoch: a point, not nothing
                    label=label if ax is axes[0] else None)
            if n > 1:
                ax.fill_between(x, stats[(col, "min")], stats[(col, "max")], color=color, alpha=0.12, linewidth=0)
    for ax, (_, title) in zip(axes, PANELS):
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    fig.legend(loc="center left", bbox_to_anchor=(0.79, 0.5), fontsize=8, frameon=False,
               title="step (final top-1, seeds)", title_fontsize=8.5)
    fig.suptitle(f"Training curves: {folder.name}", fontsize=13, fontweight="bold")
    fig.text(0.5, 0.905, subtitle(facts) + "  ·  line: mean over seeds, band: lowest to highest seed, "
             "dashed: not adopted", ha="center", fontsize=8.5, color="#444444")
    fig.subplots_adjust(left=0.05, right=0.78, top=0.83, bottom=0.12, wspace=0.25)
    return save(fig, path, dpi)
