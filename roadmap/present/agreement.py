"""How far a reproduced run agrees with the paper: the two numbers the README's reading quotes.

- Rank: Spearman's rho between the per-step mean top-1 and the paper's (Table 10), over the steps
  with both. It asks whether the steps are ordered alike, whatever the scale of the accuracies.
- Signs: of the step changes our seeds resolve (paired 95% interval excludes 0), how many go the
  paper's way. A paper change of exactly 0 (kernel 9) has no sign and is not counted; the count is
  also given for the changes the paper's own 3 seeds resolve (Welch, see roadmap.present.stats).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from roadmap.arch.catalog import load
from roadmap.errors import RoadmapError
from roadmap.present.selection import split_by
from roadmap.present.stats import paired_delta, seed_values, welch
from roadmap.present.text import change, markdown_table
from roadmap.runs.table import read_results


@dataclass
class Agreement:
    n_steps: int          # steps with our mean and the paper's top-1
    rho: float            # Spearman's rank correlation of the two (nan with fewer than 3 steps)
    rho_p: float          # its two-sided p-value (no correlation as the null)
    resolved: int         # our resolved step changes (with a paper change of some sign)
    same_sign: int        # ... of which go the paper's way
    both_resolved: int    # resolved by us and by the paper's seeds
    both_same_sign: int   # ... of which go the same way

    def sentence(self) -> str:
        rank = (f"Spearman ρ of the per-step means against the paper's top-1 = {self.rho:.2f} "
                f"(p = {self.rho_p:.2g}, {self.n_steps} steps)") if not math.isnan(self.rho) else \
            f"too few steps with the paper's top-1 for a rank correlation ({self.n_steps})"
        if not self.resolved:
            return f"Agreement with the paper: {rank}; no step change is resolved here."
        also = (f" ({self.both_same_sign} of the {self.both_resolved} the paper's seeds resolve too)"
                if self.both_resolved else " (none of them is resolved by the paper's seeds)")
        return (f"Agreement with the paper: {rank}; of the {self.resolved} step changes resolved here, "
                f"{self.same_sign} have the paper's sign{also}.")


def agreement(report: pd.DataFrame) -> Agreement:
    """From roadmap.present.report.report_table's rows of one regime."""
    ok = report[report["top1_mean"].notna() & report["paper_top1"].notna()]
    rho, p = (stats.spearmanr(ok["top1_mean"], ok["paper_top1"]) if len(ok) >= 3 else (math.nan, math.nan))
    ch = report[(report["resolved"] == True) & report["paper_delta"].notna() & (report["paper_delta"] != 0)]  # noqa: E712
    same = (ch["delta"] > 0) == (ch["paper_delta"] > 0)
    both = ch["paper_resolved"] == True  # noqa: E712
    return Agreement(n_steps=len(ok), rho=float(rho), rho_p=float(p), resolved=len(ch), same_sign=int(same.sum()),
                     both_resolved=int(both.sum()), both_same_sign=int((same & both).sum()))


# --- several runs against the paper and each other: `roadmap agreement` --------------------------------

PAPER_SEEDS = 3  # Table 10 gives each step's mean ± std over 3 seeds


@dataclass
class RunSteps:
    """One results folder's finished seeds of one roadmap, as agreement compares them."""
    folder: str
    label: str                           # the folder's name and its budget ("cifar10-cpu-proxy, 10 ep")
    steps: list[str]                     # the roadmap's order, finished steps only
    parents: dict[str, str | None]       # the step each is compared with
    labels: dict[str, str]
    values: dict[str, dict[int, float]]  # step -> seed -> top-1
    seeds: list[int]                     # the seeds every finished step has: the bootstrap's units
    paper: dict[str, tuple[float, float]]  # step -> Table 10's (top-1, std)


def runs_of(folders, roadmap: str = "convnext-t", by: str | None = None) -> list[RunSteps]:
    """Each folder as one run, or with `by` each of its values ("epochs=10", ...) as one."""
    if by is None:
        return [run_steps(f, roadmap) for f in folders]
    runs = []
    for folder in folders:
        for label, part in split_by(read_results(folder), by, folder):
            runs.append(run_steps(folder, roadmap, part, f"{Path(folder).name}, {label}"))
    return runs


def run_steps(folder, roadmap: str = "convnext-t", table: pd.DataFrame | None = None,
              label: str | None = None) -> RunSteps:
    """A folder's rows of `roadmap` (or the given part of them), labelled by the folder and its epochs."""
    table = read_results(folder) if table is None else table
    names = sorted(set(table["roadmap"].dropna().astype(str)))
    table = table[table["roadmap"].astype(str) == roadmap]
    if table.empty:
        raise RoadmapError(f"{folder} has no rows of roadmap {roadmap!r}; it has {', '.join(names) or 'none'} "
                           "(choose with --roadmap)")
    rm = load(roadmap)
    values = seed_values(table)
    steps = [s.id for s in rm.steps if s.id in values]
    seeds = sorted(set.intersection(*(set(values[s]) for s in steps))) if steps else []
    epochs = sorted({int(e) for e in pd.to_numeric(table.loc[table["status"] == "ok", "epochs"], errors="coerce").dropna()})
    budget = f", {'/'.join(map(str, epochs))} ep" if epochs else ""
    return RunSteps(
        folder=str(folder), label=label or f"{Path(folder).name}{budget}", steps=steps,
        parents={s.id: s.parent for s in rm.steps}, labels={s.id: s.label for s in rm.steps},
        values=values, seeds=seeds,
        paper={s.id: (float(s.paper["top1"]), float(s.paper.get("std") or 0.0)) for s in rm.steps
               if s.paper.get("top1") is not None})


def _changes(r: RunSteps) -> list[str]:
    """Steps with a parent, both finished, in order."""
    return [s for s in r.steps if r.parents.get(s) in r.values]


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row of x with the same row of y (ties get average ranks); NaN for a
    constant row."""
    if x.shape[-1] < 2:  # nothing to rank
        return np.full(x.shape[:-1], math.nan)
    rx, ry = stats.rankdata(x, axis=-1), stats.rankdata(y, axis=-1)
    rx, ry = rx - rx.mean(-1, keepdims=True), ry - ry.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(-1) / np.sqrt((rx ** 2).sum(-1) * (ry ** 2).sum(-1))


MEASURE_COLUMNS = ["comparison", "measure", "value", "ci_low", "ci_high", "n", "draws"]
STEP_COLUMNS = ["step", "label", "parent", "paper_top1", "paper_delta", "paper_resolved"]


def agreement_tables(runs: list[RunSteps], draws: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-step table: the paper's and each run's mean and paired Δ side by side; measures: Spearman ρ
    of step changes and of step means against the paper, sign agreement, and for each pair of runs
    ρ between their changes and the change of ρ from the first to the second, each with a 95%
    bootstrap interval; see the README's pre-registered plan for the design)."""
    rng = np.random.default_rng(seed)
    # steps every run and the paper have, in the first run's order
    common = [s for s in runs[0].steps if all(s in r.values for r in runs) and s in runs[0].paper]
    changes = [s for s in common if runs[0].parents.get(s) in common]
    parents = {s: runs[0].parents[s] for s in changes}
    paper = runs[0].paper
    p_mean = np.array([paper[s][0] for s in common])
    p_delta = np.array([paper[s][0] - paper[parents[s]][0] for s in changes])
    p_welch = {s: welch(paper[s][0], paper[s][1], PAPER_SEEDS, paper[parents[s]][0], paper[parents[s]][1],
                        PAPER_SEEDS) for s in changes}
    p_resolved = np.array([p_welch[s].resolved for s in changes], dtype=bool)
    col = {s: i for i, s in enumerate(common)}
    ci, pi = np.array([col[s] for s in changes], dtype=int), np.array([col[parents[s]] for s in changes], dtype=int)

    # seeds x steps matrices; one seed resample per draw shared by runs with the same seeds (paired)
    mats = [np.array([[r.values[s][k] for s in common] for k in r.seeds], dtype=float) for r in runs]
    same_seeds = all(r.seeds == runs[0].seeds for r in runs)
    idx0 = rng.integers(0, len(runs[0].seeds), size=(draws, len(runs[0].seeds)))
    idx = [idx0 if same_seeds else rng.integers(0, len(r.seeds), size=(draws, len(r.seeds))) for r in runs]
    p_std = np.array([paper[s][1] for s in common]) / np.sqrt(PAPER_SEEDS)
    p_draw = p_mean + rng.standard_normal((draws, len(common))) * p_std
    pd_draw = p_draw[:, ci] - p_draw[:, pi]

    def step_changes(means):
        # equal means differ by a float's 1e-14 whose sign follows the summation order; a change of 0
        # has no sign (it never counts as the paper's) and ties in rank
        d = means[..., ci] - means[..., pi]
        return np.where(np.abs(d) < 1e-9, 0.0, d)

    point, boot = [], []
    for m, ix in zip(mats, idx):
        means = m.mean(axis=0)
        point.append((means, step_changes(means)))
        b_means = m[ix].mean(axis=1)                     # draws x steps
        boot.append((b_means, step_changes(b_means)))

    def interval(x):
        x = x[~np.isnan(x)]
        return (float(np.percentile(x, 2.5)), float(np.percentile(x, 97.5))) if x.size else (math.nan, math.nan)

    step_rows = []
    for s in common:
        par = runs[0].parents.get(s) if s in parents else None
        row = {"step": s, "label": runs[0].labels[s], "parent": par, "paper_top1": paper[s][0],
               "paper_delta": paper[s][0] - paper[par][0] if par else math.nan,
               "paper_low": p_welch[s].low if par else math.nan, "paper_high": p_welch[s].high if par else math.nan,
               "paper_resolved": bool(p_welch[s].resolved) if par else False}
        for k, r in enumerate(runs):
            vals = {seed_: r.values[s][seed_] for seed_ in r.seeds}
            row[f"mean_{k}"] = float(np.mean(list(vals.values())))
            if par:
                d = paired_delta(vals, {seed_: r.values[par][seed_] for seed_ in r.seeds})
                row.update({f"delta_{k}": d.delta, f"delta_low_{k}": d.low, f"delta_high_{k}": d.high,
                            f"resolved_{k}": d.resolved})
            else:
                row.update({f"delta_{k}": math.nan, f"delta_low_{k}": math.nan, f"delta_high_{k}": math.nan,
                            f"resolved_{k}": False})
        step_rows.append(row)
    steps_df = pd.DataFrame(step_rows)

    rows = []

    def add(comparison, measure, value, draws_, n):
        low, high = interval(draws_)
        rows.append({"comparison": comparison, "measure": measure, "value": float(value), "ci_low": low,
                     "ci_high": high, "n": n, "draws": draws})

    n_res = int(p_resolved.sum())
    for k, (r, (means, deltas), (b_means, b_deltas)) in enumerate(zip(runs, point, boot)):
        add(f"{r.label} vs paper", "rho_changes", _spearman_rows(deltas, p_delta), _spearman_rows(b_deltas, pd_draw),
            len(changes))
        add(f"{r.label} vs paper", "rho_means", _spearman_rows(means, p_mean), _spearman_rows(b_means, p_draw),
            len(common))
        same = np.sign(deltas[p_resolved]) == np.sign(p_delta[p_resolved])
        b_same = (np.sign(b_deltas[:, p_resolved]) == np.sign(p_delta[p_resolved])).mean(axis=1) if n_res \
            else np.full(draws, math.nan)
        add(f"{r.label} vs paper", "sign_agreement", same.mean() if n_res else math.nan, b_same, n_res)
        # the plan's count beside it, without interval: resolved here and by the paper's seeds, its sign
        both = [x for x in step_rows if x["paper_resolved"] and x[f"resolved_{k}"]]
        rows.append({"comparison": f"{r.label} vs paper", "measure": "sign_count", "value":
                     float(sum(np.sign(x[f"delta_{k}"]) == np.sign(x["paper_delta"]) for x in both)),
                     "ci_low": math.nan, "ci_high": math.nan, "n": len(both), "draws": draws})
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            a, b = runs[i], runs[j]
            add(f"{b.label} vs {a.label}", "rho_changes", _spearman_rows(point[j][1], point[i][1]),
                _spearman_rows(boot[j][1], boot[i][1]), len(changes))
            add(f"{b.label} − {a.label}, vs paper", "rho_changes_difference",
                _spearman_rows(point[j][1], p_delta) - _spearman_rows(point[i][1], p_delta),
                _spearman_rows(boot[j][1], pd_draw) - _spearman_rows(boot[i][1], pd_draw), len(changes))
    measures_df = pd.DataFrame(rows, columns=MEASURE_COLUMNS)
    steps_df.attrs["runs"] = [r.label for r in runs]
    return steps_df, measures_df


def flips(steps: pd.DataFrame, i: int, j: int) -> dict[str, list[str]]:
    """Between run i and run j: changes resolved in both with opposite signs; resolved only in one."""
    out = {"flip": [], "only_first": [], "only_second": []}
    for r in steps.itertuples():
        a, b = getattr(r, f"resolved_{i}"), getattr(r, f"resolved_{j}")
        da, db = getattr(r, f"delta_{i}"), getattr(r, f"delta_{j}")
        if a and b and (da > 0) != (db > 0):
            out["flip"].append(r.step)
        elif a and not b:
            out["only_first"].append(r.step)
        elif b and not a:
            out["only_second"].append(r.step)
    return out


MEASURE_NAMES = {
    "rho_changes": "Spearman ρ of the step changes",
    "rho_means": "Spearman ρ of the step means",
    "sign_agreement": "sign agreement on the paper's resolved changes",
    "sign_count": "resolved here and by the paper's seeds: with its sign (count, of n)",
    "rho_changes_difference": "change of ρ (step changes)",
}


def agreement_markdown(steps: pd.DataFrame, measures: pd.DataFrame) -> str:
    """Both tables as GitHub Markdown, then the pre-registered verdict for each pair of runs."""
    runs = steps.attrs["runs"]
    head = ["step", "label", "paper top-1", "paper Δ (Welch)"] + [f"{r}: mean / Δ [95% CI]" for r in runs]
    rows = []
    for r in steps.to_dict(orient="records"):
        cells = [r["step"], r["label"], f"{r['paper_top1']:.2f}",
                 "" if math.isnan(r["paper_delta"]) else f"{r['paper_delta']:+.2f}" + ("" if r["paper_resolved"] else " ≈")]
        for k in range(len(runs)):
            cell = f"{r[f'mean_{k}']:.2f}"
            if not math.isnan(r[f"delta_{k}"]):
                cell += f" / {change(r[f'delta_{k}'], r[f'delta_low_{k}'], r[f'delta_high_{k}'])}" + \
                    ("" if r[f"resolved_{k}"] else " ≈")
            cells.append(cell)
        rows.append(cells)
    lines = [markdown_table(head, [False, False] + [True] * (len(head) - 2), rows).rstrip("\n")]
    lines += ["", "≈: the 95% interval holds 0 (ours: paired t over seeds; the paper's: Welch on Table 10).", ""]
    values = [[m["comparison"], MEASURE_NAMES[m["measure"]],
               f"{m['value']:.0f}" if m["measure"] == "sign_count" else
               "n/a (too few steps or no spread)" if math.isnan(m["value"]) else change(m["value"], m["ci_low"], m["ci_high"]),
               str(m["n"])] for m in measures.to_dict(orient="records")]
    lines.append(markdown_table(["comparison", "measure", "value [95% bootstrap CI]", "n"], [False, False, True, True],
                                values))
    draws = int(measures["draws"].iloc[0]) if len(measures) else 0
    lines.append(f"Intervals: {draws:,} bootstrap draws resampling seeds (the same resample for every step and, "
                 "where the seeds match, every run) and the paper's step means from N(mean, std/√3).")
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            d = measures[(measures["measure"] == "rho_changes_difference")
                         & (measures["comparison"] == f"{runs[j]} − {runs[i]}, vs paper")].iloc[0]
            rises = d["value"] > 0 and d["ci_low"] > 0
            verdict = "agreement rises" if rises else "no evidence that agreement rises"
            if math.isnan(d["value"]):
                verdict = "too few common steps to tell whether agreement rises"
            f = flips(steps, i, j)
            lines.append("")
            rho_change = "" if math.isnan(d["value"]) else \
                f" (change of ρ of the step changes {d['value']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}])"
            lines.append(f"{runs[i]} -> {runs[j]}: {verdict}{rho_change}. Flip sign (resolved in both): "
                         f"{', '.join(f['flip']) or 'none'}; resolved only in the first: "
                         f"{', '.join(f['only_first']) or 'none'}; only in the second: {', '.join(f['only_second']) or 'none'}.")
    return "\n".join(lines) + "\n"
