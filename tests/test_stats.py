"""roadmap.present.stats on tables with known answers."""
import math

import numpy as np
import pandas as pd
import pytest

from roadmap.present.stats import (
    mean_interval, paired_delta, paired_power, seeds_needed, welch,
)

# t_{0.975, 2} in closed form: for df = 2, t_p = a * sqrt(2 / (1 - a^2)) with a = 2p - 1.
# (The often-quoted 4.302652729911275 differs in the 10th digit; approx accepts both.)
T975_2 = 0.95 * math.sqrt(2 / (1 - 0.95**2))
PARENT = {0: 80.0, 1: 81.0, 2: 79.5}


def shifted(base: dict, diffs: list) -> dict:
    return {seed: base[seed] + d for seed, d in zip(sorted(base), diffs)}


# -- mean_interval ---------------------------------------------------------------------------

def test_mean_interval_drops_nan_and_uses_student_t():
    iv = mean_interval([1.0, 2.0, 3.0, float("nan")])
    assert (iv.mean, iv.std, iv.n) == (2.0, 1.0, 3)
    half = T975_2 * 1.0 / math.sqrt(3)
    assert (iv.low, iv.high) == pytest.approx((2.0 - half, 2.0 + half))


@pytest.mark.parametrize("values, mean", [([79.5], 79.5), ([], math.nan), ([math.nan], math.nan)])
def test_mean_interval_below_two_values_is_nan_not_an_error(values, mean):
    iv = mean_interval(values)
    assert iv.n == len([v for v in values if not math.isnan(v)])
    assert iv.mean == pytest.approx(mean, nan_ok=True)
    assert math.isnan(iv.std) and math.isnan(iv.low) and math.isnan(iv.high)


# -- paired_delta ----------------------------------------------------------------------------

def test_clear_improvement_is_resolved():
    d = paired_delta(shifted(PARENT, [4.9, 5.0, 5.1]), PARENT)
    assert d.n == 3
    assert d.delta == pytest.approx(5.0)
    assert d.sd == pytest.approx(0.1)
    half = T975_2 * 0.1 / math.sqrt(3)  # 0.24841377117503308
    assert (d.low, d.high) == pytest.approx((5.0 - half, 5.0 + half))
    assert d.resolved
    assert d.p_improve > 0.99


def test_deltas_straddling_zero_are_not_resolved():
    d = paired_delta(shifted(PARENT, [0.3, -0.4, 0.2]), PARENT)
    assert d.low < 0 < d.high
    assert not d.resolved
    assert 0.2 < d.p_improve < 0.8


def test_paired_delta_matches_hand_computation():
    # diffs 1.0, 2.0, 4.5: mean 2.5; squared deviations 2.25 + 0.25 + 4.0 = 6.5, var 3.25,
    # sd 1.8027756377319946, se = sd / sqrt(3) = 1.0408329997330663,
    # half-width = 4.302652729749463 * se = 4.4783429475148
    d = paired_delta(shifted(PARENT, [1.0, 2.0, 4.5]), PARENT)
    assert d.delta == pytest.approx(2.5)
    assert d.sd == pytest.approx(1.8027756377319946)
    assert d.low == pytest.approx(2.5 - 4.4783429475148)
    assert d.high == pytest.approx(2.5 + 4.4783429475148)
    assert not d.resolved
    # posterior P(delta > 0) = T_2.cdf(t); for df = 2 the cdf is 0.5 + t / (2 sqrt(2 + t^2))
    t = 2.5 / 1.0408329997330663
    assert d.p_improve == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)))  # 0.93086


def test_pairs_only_seeds_finished_by_both():
    step = {0: 85.0, 1: 86.0, 2: 84.5, 3: 99.0, 4: math.nan}
    parent = {0: 80.0, 1: 81.0, 2: 79.5, 4: 80.0, 5: 80.0}
    d = paired_delta(step, parent)
    assert d.n == 3
    assert d.delta == pytest.approx(5.0)


def test_pairing_is_tighter_than_unpaired_when_the_seed_effect_is_shared():
    seed_effect = [0.0, 1.5, -1.2]
    parent = {s: 80.0 + e for s, e in enumerate(seed_effect)}
    step = shifted(parent, [0.9, 1.0, 1.1])
    paired = paired_delta(step, parent)
    a, b = mean_interval(step.values()), mean_interval(parent.values())
    unpaired = welch(a.mean, a.std, a.n, b.mean, b.std, b.n)
    assert paired.delta == pytest.approx(unpaired.delta)
    assert paired.high - paired.low < (unpaired.high - unpaired.low) / 5
    assert paired.resolved and not unpaired.resolved


def test_one_seed_gives_empty_intervals_without_errors():
    d = paired_delta({0: 81.0}, {0: 80.0})
    assert d.n == 1 and d.delta == pytest.approx(1.0)
    assert all(math.isnan(x) for x in (d.low, d.high, d.sd, d.p_improve))
    assert d.resolved is False
    assert d.seeds_needed is None


def test_no_shared_seed():
    d = paired_delta({0: 81.0}, {1: 80.0})
    assert d.n == 0 and math.isnan(d.delta) and not d.resolved and d.seeds_needed is None


def test_identical_differences_are_certain():
    exact = paired_delta({0: 1.0, 1: 2.0}, {0: 0.5, 1: 1.5})  # sd exactly 0
    assert exact.sd == 0.0
    assert (exact.low, exact.high) == (0.5, 0.5)
    assert exact.p_improve == 1.0 and exact.resolved and exact.seeds_needed == 2
    worse = paired_delta({0: 0.5, 1: 1.5}, {0: 1.0, 1: 2.0})
    assert worse.p_improve == 0.0 and worse.resolved
    same = paired_delta({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0})
    assert same.p_improve == 0.5 and not same.resolved and same.seeds_needed is None


# -- seeds_needed ----------------------------------------------------------------------------

def test_seeds_needed_big_effect():
    d = paired_delta(shifted(PARENT, [4.0, 5.0, 6.0]), PARENT)  # d = 5 / 1
    assert d.seeds_needed == seeds_needed(5.0) == 3
    assert paired_power(5.0, 2) < 0.8 <= paired_power(5.0, 3)  # 0.421, 0.975


def test_seeds_needed_medium_effect_matches_power_analysis():
    # paired t-test, d = 0.5, two-sided alpha 0.05, power 0.8: n = 34 (power 0.8078;
    # 33 pairs give 0.7954), the textbook / G*Power value
    assert paired_power(0.5, 33) == pytest.approx(0.7953658, abs=1e-6)
    assert paired_power(0.5, 34) == pytest.approx(0.8077775, abs=1e-6)
    assert seeds_needed(0.5) == 34
    d = paired_delta(shifted(PARENT, [-0.5, 0.5, 1.5]), PARENT)  # mean 0.5, sd 1
    assert d.seeds_needed == 34


def test_seeds_needed_none_without_effect_or_beyond_the_cap():
    assert paired_delta(shifted(PARENT, [-1.0, 0.0, 1.0]), PARENT).seeds_needed is None
    assert seeds_needed(0.0) is None
    assert seeds_needed(math.nan) is None
    assert seeds_needed(0.05) is None  # about 3100 seeds


def test_seeds_needed_decreases_with_effect_size():
    needed = [seeds_needed(d) for d in (0.3, 0.5, 1.0, 2.0)]
    assert needed == sorted(needed, reverse=True) and len(set(needed)) == 4


# -- welch on the paper's Table 10 (mean ± std over 3 seeds) ---------------------------------

def test_welch_patchify_vs_stage_ratio_not_resolved():
    w = welch(79.51, 0.18, 3, 79.36, 0.07, 3)
    assert w.delta == pytest.approx(0.15)
    assert w.low < 0 < w.high and not w.resolved


def test_welch_stage_ratio_vs_resnet50_resolved():
    w = welch(79.36, 0.07, 3, 78.82, 0.07, 3)
    assert w.delta == pytest.approx(0.54)
    assert w.df == pytest.approx(4.0)
    assert w.t == pytest.approx(0.54 / math.sqrt(2 * 0.07**2 / 3))
    assert w.low > 0 and w.resolved
    assert w.p_improve > 0.99


def test_welch_gelu_vs_kernel7_not_resolved():
    w = welch(80.62, 0.14, 3, 80.57, 0.14, 3)
    assert w.df == pytest.approx(4.0)
    assert not w.resolved
    assert 0.5 < w.p_improve < 0.9


def test_welch_df_unequal_stds():
    w = welch(79.51, 0.18, 3, 79.36, 0.07, 3)
    va, vb = 0.18**2 / 3, 0.07**2 / 3
    assert w.df == pytest.approx((va + vb) ** 2 / (va**2 / 2 + vb**2 / 2))
    assert 2.0 < w.df < 4.0


@pytest.mark.parametrize("args", [
    (80.0, None, 3, 79.0, 0.1, 3), (80.0, math.nan, 3, 79.0, 0.1, 3), (80.0, 0.1, 1, 79.0, 0.1, 3),
])
def test_welch_without_spread_is_nan(args):
    w = welch(*args)
    assert w.delta == pytest.approx(1.0)
    assert all(math.isnan(x) for x in (w.low, w.high, w.t, w.df, w.p_improve))
    assert w.resolved is False


# -- the report's table of steps (roadmap.present.aggregate.result_rows), on seed rows ---------

def rows(step, values, status="ok"):
    return [{"roadmap": "t", "step": step, "seed": s, "top1": v, "status": status, "parent": PARENTS.get(step, "")}
            for s, v in enumerate(values)]


PARENTS = {"step0": "", "step1": "step0", "step2": "step1", "step3": "step2"}


def _table(results):
    from roadmap.present.aggregate import result_rows
    return result_rows(pd.DataFrame(results), roadmaps=[]).set_index("step")


def test_the_step_table_pairs_each_step_with_the_parent_its_rows_record():
    row = _table(
        rows("step2", [83.0, 84.0, 82.6])             # listed before its parents
        + rows("step0", [80.0, 81.0, 79.5])
        + rows("step1", [84.9, 86.0, 84.6])
        + [{"roadmap": "t", "step": "step2", "seed": 3, "top1": "nan", "status": "ok", "parent": "step1"},
           {"roadmap": "t", "step": "step3", "seed": 0, "top1": 90.0, "status": "failed", "parent": "step2"}])
    assert row.loc["step0", "n"] == 3 and pd.isna(row.loc["step0", "parent"])
    assert row.loc["step0", "value"] == pytest.approx(240.5 / 3)
    assert np.isnan(row.loc["step0", ["delta", "delta_low", "delta_high", "p_improve"]].astype(float)).all()
    assert not row.loc["step0", "resolved"] and pd.isna(row.loc["step0", "seeds_needed"])

    assert row.loc["step1", "parent"] == "step0" and row.loc["step1", "delta"] == pytest.approx(5.0)
    assert row.loc["step1", "resolved"] and row.loc["step1", "value"] == pytest.approx(255.5 / 3)

    assert row.loc["step2", "n"] == 3                  # the non-numeric top1 is dropped
    assert row.loc["step2", "delta"] == pytest.approx(np.mean([83 - 84.9, 84 - 86.0, 82.6 - 84.6]))
    assert row.loc["step2", "resolved"] and row.loc["step2", "p_improve"] < 0.01

    assert row.loc["step3", "n"] == 0 and row.loc["step3", "status"] == "failed"  # only a failed run
    assert row.loc["step3", ["value", "err", "delta", "p_improve"]].isna().all()
    assert not row.loc["step3", "resolved"] and pd.isna(row.loc["step3", "seeds_needed"])


def test_a_rerun_of_a_seed_replaces_the_earlier_line():
    row = _table(rows("step0", [80.0, 81.0, 79.5]) + rows("step1", [10.0, 10.0, 10.0])
                 + rows("step1", [84.9, 86.0, 84.6]))
    assert row.loc["step1", "n"] == 3 and row.loc["step1", "value"] == pytest.approx(255.5 / 3)


def test_the_step_table_delta_is_paired_delta():
    PARENTS["b"] = "a"
    row = _table(rows("a", [80.0, 81.0, 79.5]) + rows("b", [81.0, 83.0, 84.0])).loc["b"]
    d = paired_delta({0: 81.0, 1: 83.0, 2: 84.0}, PARENT)
    assert (row["delta"], row["delta_low"], row["delta_high"], row["p_improve"]) == \
        pytest.approx((d.delta, d.low, d.high, d.p_improve))
    assert row["seeds_needed"] == d.seeds_needed
    iv = mean_interval([81.0, 83.0, 84.0])
    assert (row["err"], row["ci_low"], row["ci_high"]) == pytest.approx((iv.std, iv.low, iv.high))


def test_the_step_table_with_one_seed_has_nan_intervals():
    t = _table(rows("step0", [80.0]) + rows("step1", [81.0]))
    assert list(t["n"]) == [1, 1] and list(t["value"]) == [80.0, 81.0]
    assert t[["err", "ci_low", "ci_high"]].isna().all().all()
    assert t.loc["step1", "delta"] == pytest.approx(1.0)
    assert t[["delta_low", "delta_high", "p_improve"]].isna().all().all()
    assert not t["resolved"].any() and t["seeds_needed"].isna().all()


def test_one_row_per_seed_and_never_two_recipes_of_one_seed():
    from roadmap.errors import RoadmapError
    from roadmap.present.selection import last_per_seed
    rows = pd.DataFrame([
        # a plain run's row, and the copy a later --sweep epochs=30 made of it (the recipe's own 30 epochs):
        # one recipe (the hash), whatever the labels say
        {"step": "s", "seed": 0, "top1": 50.0, "recipe_hash": "aaa", "sweep": "", "recipe_overrides": ""},
        {"step": "s", "seed": 0, "top1": 50.0, "recipe_hash": "aaa", "sweep": "epochs=30",
         "recipe_overrides": "epochs=30 epochs=30"},
        {"step": "s", "seed": 1, "top1": 51.0, "recipe_hash": "aaa", "sweep": "", "recipe_overrides": ""},
    ])
    assert last_per_seed(rows)["seed"].tolist() == [0, 1]
    grid = pd.concat([rows, pd.DataFrame([{"step": "s", "seed": 1, "top1": 52.0, "recipe_hash": "bbb",
                                           "sweep": "epochs=30 lr=0.001", "recipe_overrides": ""}])])
    with pytest.raises(RoadmapError, match=r"step s, seed 1 has rows of 2 settings \(epochs=the recipe's lr=the "
                                           r"recipe's; epochs=30 lr=0.001\); read one at a time with --by epochs,lr$"):
        last_per_seed(grid)
    edited = rows.assign(recipe_hash=["aaa", "aaa", "ccc"]).iloc[[0, 2]]
    edited = pd.concat([edited, rows.iloc[[2]]])  # seed 1 under two recipes and the same settings
    with pytest.raises(RoadmapError, match="2 different recipes .* under the same settings"):
        last_per_seed(edited)
