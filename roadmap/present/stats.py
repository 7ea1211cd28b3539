"""Seed statistics for top-1 accuracies: intervals of a mean, paired deltas, Welch on summaries.

A step and its parent trained with the same seed see the same data order and the same
augmentation stream, so the seed effect cancels in the per-seed difference: the design is
paired. The interval of a delta is therefore the paired Student-t interval of the mean
difference. It is exact when per-seed differences are normal, and it stays honest at 3-5
seeds, where a bootstrap interval is degenerate (only a handful of distinct resamples) and too
narrow.

``p_improve`` is the Bayesian reading of the same t: with a flat prior the posterior of the
mean difference is ``delta + se * T_df``, so P(step beats parent) = ``T_df.cdf(delta / se)``.

Too few seeds is a normal state of a results table, not an error: with n < 2 spreads,
intervals and probabilities are NaN and nothing is resolved.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from roadmap.present.selection import last_per_seed

__all__ = [
    "Interval", "Delta", "WelchDelta", "mean_interval", "summary_interval", "paired_delta", "paired_power",
    "seeds_needed", "welch", "seed_values",
]

NAN = math.nan
MAX_SEEDS = 1000


@dataclass(frozen=True)
class Interval:
    """Mean of a sample with its sample std (ddof=1) and Student-t interval."""
    mean: float
    std: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class Delta:
    """A step against its parent over shared seeds (see the module docstring)."""
    delta: float
    low: float
    high: float
    sd: float
    p_improve: float
    resolved: bool
    seeds_needed: int | None
    n: int


@dataclass(frozen=True)
class WelchDelta:
    """Difference of two means known only as mean ± std over n (unpaired, unequal variances)."""
    delta: float
    low: float
    high: float
    t: float
    df: float
    p_improve: float
    resolved: bool


def _t_bounds(center: float, se: float, df: float, level: float) -> tuple[float, float]:
    """Two-sided t interval; a zero standard error is a point, an unknown one is NaN."""
    if se == 0:
        return center, center
    if not se > 0:
        return NAN, NAN
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return center - half, center + half


def _p_improve(delta: float, se: float, df: float) -> float:
    """Posterior P(true difference > 0) under a flat prior; a zero se leaves only the sign."""
    if se == 0:
        return 0.5 * (1.0 + float(np.sign(delta)))
    if not se > 0:
        return NAN
    return float(stats.t.cdf(delta / se, df))


def _excludes_zero(low: float, high: float) -> bool:
    return bool(low > 0 or high < 0)  # NaN bounds compare False: never resolved


def mean_interval(values: Iterable[float], level: float = 0.95) -> Interval:
    """Mean, std and t interval of ``values`` with NaNs dropped (NaN spread when n < 2)."""
    x = np.asarray(list(values), dtype=float)
    x = x[~np.isnan(x)]
    n = int(x.size)
    if n < 2:
        return Interval(float(x[0]) if n else NAN, NAN, NAN, NAN, n)
    mean, std = float(x.mean()), float(x.std(ddof=1))
    low, high = _t_bounds(mean, std / math.sqrt(n), n - 1, level)
    return Interval(mean, std, low, high, n)


def summary_interval(mean: float, std: float, n: int, level: float = 0.95) -> Interval:
    """The t interval of a mean known only as mean ± std over n (a paper's table)."""
    if n < 2 or not std >= 0:
        return Interval(mean, NAN, NAN, NAN, n)
    low, high = _t_bounds(mean, std / math.sqrt(n), n - 1, level)
    return Interval(mean, std, low, high, n)


def paired_power(effect_size: float, n, level: float = 0.95):
    """Exact power of a two-sided paired t-test with n pairs at effect size d = |mean| / sd.

    Under the alternative the statistic is noncentral t with df = n - 1 and noncentrality
    d * sqrt(n); power is the mass beyond either critical value. ``n`` may be an array.
    """
    n = np.asarray(n, dtype=float)
    df = n - 1
    crit = stats.t.ppf(0.5 + level / 2, df)
    nc = effect_size * np.sqrt(n)
    return stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)


def seeds_needed(effect_size: float, level: float = 0.95, power: float = 0.8) -> int | None:
    """Smallest n >= 2 seeds per arm whose paired t-test reaches ``power``.

    None when there is no effect to detect (d = 0 or NaN) or more than MAX_SEEDS would be
    needed; an infinite d (differences without spread) is detected by the minimum, 2.
    """
    if not effect_size > 0:
        return None
    if math.isinf(effect_size):
        return 2
    n = np.arange(2, MAX_SEEDS + 1)
    hits = np.flatnonzero(paired_power(effect_size, n, level) >= power)
    return int(n[hits[0]]) if hits.size else None


def paired_delta(step: Mapping[int, float], parent: Mapping[int, float],
                 level: float = 0.95, power: float = 0.8) -> Delta:
    """Paired comparison of a step with its parent over the seeds both finished."""
    seeds = [s for s in step if s in parent
             and not (math.isnan(step[s]) or math.isnan(parent[s]))]
    diffs = np.array([step[s] - parent[s] for s in seeds], dtype=float)
    n = len(seeds)
    if n < 2:
        return Delta(float(diffs[0]) if n else NAN, NAN, NAN, NAN, NAN, False, None, n)
    delta, sd = float(diffs.mean()), float(diffs.std(ddof=1))
    se = sd / math.sqrt(n)
    if se > 0:  # scipy's paired t interval (a one-sample t on the per-seed differences = ttest_rel)
        with warnings.catch_warnings():  # differences a hair apart: scipy warns, and computes the same bounds
            warnings.simplefilter("ignore", RuntimeWarning)
            ci = stats.ttest_1samp(diffs, 0.0).confidence_interval(level)
        low, high = float(ci.low), float(ci.high)
    else:       # every seed moved by the same amount: a point, which scipy cannot divide by
        low, high = _t_bounds(delta, se, n - 1, level)
    effect = abs(delta) / sd if sd > 0 else (math.inf if delta else 0.0)
    return Delta(delta, low, high, sd, _p_improve(delta, se, n - 1), _excludes_zero(low, high),
                 seeds_needed(effect, level, power), n)


def welch(mean_a: float, std_a: float | None, n_a: int,
          mean_b: float, std_b: float | None, n_b: int, level: float = 0.95) -> WelchDelta:
    """Welch interval of mean_a - mean_b from summary statistics (e.g. the paper's Table 10).

    Without per-seed numbers the pairing is lost, so the comparison is unpaired with
    Welch–Satterthwaite degrees of freedom.
    """
    delta = mean_a - mean_b
    known = all(s is not None and math.isfinite(s) for s in (std_a, std_b))
    if not known or min(n_a, n_b) < 2:
        return WelchDelta(delta, NAN, NAN, NAN, NAN, NAN, False)
    va, vb = std_a**2 / n_a, std_b**2 / n_b
    se = math.sqrt(va + vb)
    spread = va**2 / (n_a - 1) + vb**2 / (n_b - 1)
    df = (va + vb) ** 2 / spread if spread > 0 else NAN
    # scipy's Welch statistic; it gives no interval from summaries, so the Welch-Satterthwaite df
    # above and the t quantile make it
    t = float(stats.ttest_ind_from_stats(mean_a, std_a, n_a, mean_b, std_b, n_b, equal_var=False).statistic) \
        if se > 0 else (math.copysign(math.inf, delta) if delta else NAN)
    low, high = _t_bounds(delta, se, df, level)
    return WelchDelta(delta, low, high, t, df, _p_improve(delta, se, df),
                      _excludes_zero(low, high))


_NO_PARENT = Delta(NAN, NAN, NAN, NAN, NAN, False, None, 0)  # the first step: nothing to compare


def seed_values(results: pd.DataFrame) -> dict[str, dict[int, float]]:
    """step -> {seed: top1} over finished runs, one row per seed (selection.last_per_seed)."""
    ok = results.loc[results["status"] == "ok"]
    ok = last_per_seed(ok.assign(top1=pd.to_numeric(ok["top1"], errors="coerce")).dropna(subset=["top1"]))
    return {step: dict(zip(g["seed"], g["top1"])) for step, g in ok.groupby("step", sort=False)}


# A verdict between arms this close to guessing (100 / classes) says so: a "better" between two
# arms that barely learnt is a statement about noise in the optimiser, not about the design.
CHANCE_MARGIN = 5.0  # top-1 points above chance


def near_chance(means: Iterable[float], classes: int | None) -> str:
    """"; near chance (10%)" when any arm's mean top-1 is within CHANCE_MARGIN of 100 / classes."""
    if not classes:
        return ""
    chance = 100 / classes
    if any(m == m and m < chance + CHANCE_MARGIN for m in means):
        return f"; near chance ({chance:.3g}%)"
    return ""
