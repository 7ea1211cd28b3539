"""Results tables -> one row per roadmap step: what a figure or report shows, with no drawing.

`paper_rows` and `result_rows` compute one row per (roadmap, step), in roadmap order, with the
top-1, its seed spread and 95% interval, the change from the previous *adopted* step with its
interval and verdict (`roadmap.present.stats`: paired by seed for our runs, Welch on the paper's
mean ± std), and the paper's value. The figure (`roadmap.present.figure`) and the report
(`roadmap.present.report`) only lay them out.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import pandas as pd

from roadmap.arch.names import parents
from roadmap.arch.steps import Roadmap
from roadmap.present.roadmaps import as_roadmap, match, try_load
from roadmap.present.selection import last_per_seed
from roadmap.present.stats import mean_interval, paired_delta, summary_interval, welch

ROW_COLUMNS = [
    "roadmap", "regime", "step", "label", "group", "adopted", "parent", "value", "err", "n", "n_failed",
    "gflops", "params", "train_img_s", "paper_top1", "paper_gflops", "delta", "paper_delta",
    "missing", "status", "error",
    # 95% intervals: of the mean over seeds, of the delta (paired t), of the paper's delta (Welch)
    "ci_low", "ci_high", "delta_low", "delta_high", "p_improve", "resolved", "seeds_needed",
    "paper_delta_low", "paper_delta_high", "paper_resolved",
]


def paper_rows(roadmaps: Iterable[Roadmap | str]) -> pd.DataFrame:
    """The paper's Figure 2 as rows: each roadmap's steps in order, valued by the paper's numbers."""
    rows = []
    for rm in map(as_roadmap, roadmaps):
        for st in rm.steps:
            p = st.paper
            std, n = _paper_spread(st)
            top1 = num(p.get("top1"))
            ci = summary_interval(top1, std, n)
            rows.append(_row(rm.name, rm.regime, st, value=top1, err=std if n > 1 else math.nan, n=n,
                             gflops=num(p.get("gflops")), paper_top1=top1, paper_gflops=num(p.get("gflops")),
                             status="ok" if not math.isnan(top1) else "missing",
                             ci=(ci.low, ci.high)))
    return _with_deltas(rows)


def _paper_spread(st) -> tuple[float, int]:
    """(std, seeds) of a step's published top-1: Table 10 gives 3-seed means ± std, Table 11 single runs."""
    std = num(st.paper.get("std"))
    return std, (3 if not math.isnan(std) else 1)


def result_rows(results: pd.DataFrame, roadmaps: Sequence[Roadmap] | None = None) -> pd.DataFrame:
    """A results table (one row per step and seed) as one row per roadmap step, in roadmap order.

    `roadmaps` are matched to the table's `roadmap` column by name, file stem or path; one not given
    is loaded from that column (a name or a path), and one that cannot be loaded falls back to the
    steps present in the table, in `order` order. Steps of the roadmap absent from the table are
    kept as missing rows; steps whose every seed failed are kept with status "failed".
    """
    df = results.copy()
    for col in ("roadmap", "regime", "status", "error", "label", "group"):
        if col not in df:
            df[col] = None
    df["roadmap"] = df["roadmap"].fillna("").astype(str)
    df["status"] = df["status"].fillna("ok").astype(str)
    if "seed" in df:  # a step re-run with the same seed: the later line (appended last) wins
        df = last_per_seed(df, ["roadmap", "step", "seed"])
    given = list(roadmaps) if roadmaps is not None else None
    rows = []
    for key, table in df.groupby("roadmap", sort=False):
        rm = (match(key, given) if given is not None else None) or try_load(key)
        rows += _rows_from_roadmap(rm, table) if rm is not None else _rows_from_table(key, table)
    return _with_deltas(rows)


def _rows_from_roadmap(rm: Roadmap, table: pd.DataFrame) -> list[dict]:
    by_step = {k: g for k, g in table.groupby("step", sort=False)}
    out = [_aggregate(rm.name, rm.regime, st, by_step.pop(st.id, None)) for st in rm.steps]
    # Steps in the table that the roadmap no longer has still show, after the roadmap's own.
    for sid, g in by_step.items():
        out.append(_aggregate(rm.name, rm.regime, _table_step(g, parent=None), g))
    return out


def _rows_from_table(key: str, table: pd.DataFrame) -> list[dict]:
    sort = "order" if "order" in table else None
    firsts = table.sort_values(sort, kind="stable") if sort else table
    firsts = firsts.drop_duplicates("step")
    regime = _first(table["regime"]) or key or "?"
    groups = [table[table["step"] == r["step"]] for _, r in firsts.iterrows()]
    adopted = [_bool(_first(g["adopted"])) if "adopted" in g else True for g in groups]
    parent_of = parents([(str(g["step"].iloc[0]), a) for g, a in zip(groups, adopted)])
    return [_aggregate(key or "?", regime, _table_step(g, parent_of[str(g["step"].iloc[0])]), g) for g in groups]


@dataclass(frozen=True)
class _TableStep:
    """What a step is, read from the results table when its roadmap file cannot be loaded."""
    id: str
    label: str
    group: str | None
    adopted: bool
    parent: str | None
    paper: dict


def _table_step(g: pd.DataFrame, parent: str | None) -> _TableStep:
    sid = str(g["step"].iloc[0])
    paper = {"top1": _first(g["paper_top1"]) if "paper_top1" in g else None,
             "gflops": _first(g["paper_gflops"]) if "paper_gflops" in g else None}
    adopted = _bool(_first(g["adopted"])) if "adopted" in g else True
    return _TableStep(sid, str(_first(g["label"]) or sid), _first(g["group"]), adopted, parent, paper)


def _aggregate(name: str, regime: str, st, g: pd.DataFrame | None) -> dict:
    # the parent the rows were trained and measured against, which they record (rows from before
    # the column carry the roadmap file's, filled in by runs.table.migrate)
    recorded = [p for p in g["parent"] if isinstance(p, str)] if g is not None and "parent" in g else []
    if recorded:
        st = dataclasses.replace(st, parent=recorded[0] or None)
    if g is None or g.empty:
        return _row(name, regime, st, value=math.nan, err=math.nan, n=0, missing=True, status="missing",
                    paper_top1=num(st.paper.get("top1")), paper_gflops=num(st.paper.get("gflops")), seeds={})
    top1 = pd.to_numeric(g["top1"], errors="coerce") if "top1" in g else pd.Series(math.nan, index=g.index)
    ok = (g["status"] == "ok") & top1.notna()
    n = int(ok.sum())
    iv = mean_interval(top1[ok])
    seeds = dict(zip(pd.to_numeric(g.loc[ok, "seed"], errors="coerce"), top1[ok])) if "seed" in g else {}
    failed = g[~ok]
    reason = next((str(e) for e in failed.get("error", pd.Series(dtype=object)) if isinstance(e, str) and e), "")
    return _row(
        name, regime, st, value=top1[ok].mean() if n else math.nan,
        err=top1[ok].std(ddof=1) if n > 1 else math.nan, n=n, n_failed=len(failed),
        gflops=_mean(g, "gflops"), params=_mean(g, "params"), train_img_s=_mean(g[ok], "train_img_s"),
        paper_top1=num(st.paper.get("top1", _first(g["paper_top1"]) if "paper_top1" in g else None)),
        paper_gflops=num(st.paper.get("gflops", _first(g["paper_gflops"]) if "paper_gflops" in g else None)),
        status="ok" if n else (_first(failed["status"]) or "failed"), error=reason if not n else "",
        regime_=_first(g["regime"]), ci=accuracy_bounds(iv.low, iv.high), seeds=seeds,
    )


def accuracy_bounds(low: float, high: float) -> tuple[float, float]:
    """A t-interval of an accuracy cut to what an accuracy can be: with 2-3 seeds far apart its half
    width can pass 0% or 100% (an interval of [-61.6, 74.3] says nothing a reader can use)."""
    return (max(low, 0.0) if not math.isnan(low) else low, min(high, 100.0) if not math.isnan(high) else high)


def _row(name, regime, st, *, value, err, n, gflops=math.nan, params=math.nan, train_img_s=math.nan,
         paper_top1=math.nan, paper_gflops=math.nan, n_failed=0, missing=False, status="ok", error="",
         regime_=None, ci=(math.nan, math.nan), seeds=None) -> dict:
    std, n_paper = _paper_spread(st)
    return {
        "roadmap": name, "regime": regime_ or regime, "step": st.id, "label": st.label, "group": st.group or "",
        "adopted": bool(st.adopted), "parent": st.parent, "value": value, "err": err, "n": n,
        "n_failed": n_failed, "gflops": gflops, "params": params, "train_img_s": train_img_s,
        "paper_top1": paper_top1, "paper_gflops": paper_gflops, "delta": math.nan, "paper_delta": math.nan,
        "missing": missing, "status": status, "error": error, "ci_low": ci[0], "ci_high": ci[1],
        "delta_low": math.nan, "delta_high": math.nan, "p_improve": math.nan, "resolved": False,
        "seeds_needed": pd.NA, "paper_delta_low": math.nan, "paper_delta_high": math.nan, "paper_resolved": False,
        # not columns: what the deltas are computed from
        "_seeds": seeds, "_paper_std": std, "_paper_n": n_paper,
    }


def _with_deltas(rows: list[dict]) -> pd.DataFrame:
    """Each step against its parent, the previous adopted step (kernel 9 and GELU both compare with
    kernel 7): our runs paired by seed, the paper's numbers by Welch on Table 10's mean ± std."""
    by_key = {(r["roadmap"], r["step"]): r for r in rows}
    for r in rows:
        p = by_key.get((r["roadmap"], r["parent"])) if isinstance(r["parent"], str) else None
        if p is None:
            continue
        w = welch(r["paper_top1"], r["_paper_std"], r["_paper_n"], p["paper_top1"], p["_paper_std"], p["_paper_n"])
        r.update(paper_delta=w.delta, paper_delta_low=w.low, paper_delta_high=w.high, paper_resolved=w.resolved)
        if r["_seeds"] is None:  # the paper's own rows: their delta is the paper's
            r.update(delta=w.delta, delta_low=w.low, delta_high=w.high, p_improve=w.p_improve, resolved=w.resolved)
        else:
            d = paired_delta(r["_seeds"], p["_seeds"] or {})
            r.update(delta=d.delta, delta_low=d.low, delta_high=d.high, p_improve=d.p_improve, resolved=d.resolved,
                     seeds_needed=pd.NA if d.seeds_needed is None else d.seeds_needed)
    df = pd.DataFrame(rows, columns=ROW_COLUMNS)
    return df.astype({"seeds_needed": "Int64", "resolved": bool, "paper_resolved": bool})


def num(x) -> float:
    try:
        return float(x) if x is not None and x == x else math.nan
    except (TypeError, ValueError):
        return math.nan


def _mean(g: pd.DataFrame, col: str) -> float:
    return pd.to_numeric(g[col], errors="coerce").mean() if col in g and len(g) else math.nan


def _first(s: pd.Series):
    s = s.dropna()
    s = s[s.astype(str) != ""]
    return s.iloc[0] if len(s) else None


def _bool(x) -> bool:
    return str(x).strip().lower() not in ("false", "0", "no", "none", "nan") if x is not None else True
