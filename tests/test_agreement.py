"""`roadmap agreement`: runs against the paper and each other, with bootstrap intervals."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import roadmap
from roadmap.cli import main
from roadmap.present.agreement import agreement_tables, flips, run_steps
from roadmap.runs.table import COLUMNS

PAPER = {s.id: s.paper["top1"] for s in roadmap.load("convnext-t").steps}


def _folder(path, top1, seeds=3, epochs=10):
    """A results folder of convnext-t with top1(step, paper_top1, seed) per row."""
    rows = [dict.fromkeys(COLUMNS) | {"roadmap": "convnext-t", "status": "ok", "step": s, "seed": k,
                                      "top1": top1(s, p, k), "epochs": epochs}
            for s, p in PAPER.items() for k in range(seeds)]
    path.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(path / "results.csv", index=False)
    return path


def test_a_run_that_mirrors_the_paper_agrees_and_one_that_inverts_it_disagrees(tmp_path):
    noise = np.random.default_rng(1).normal(0, 0.05, size=(len(PAPER), 3))
    order = {s: i for i, s in enumerate(PAPER)}
    inverted = _folder(tmp_path / "a", lambda s, p, k: 100 - p + noise[order[s], k], epochs=10)
    mirror = _folder(tmp_path / "b", lambda s, p, k: p - 20 + 0.3 * k + noise[order[s], k], epochs=30)
    steps, m = agreement_tables([run_steps(inverted), run_steps(mirror)], draws=500)
    m = m.set_index(["comparison", "measure"])
    a, b = "a, 10 ep", "b, 30 ep"
    assert steps.attrs["runs"] == [a, b] and len(steps) == 16
    assert m.loc[(f"{b} vs paper", "rho_changes"), "value"] > 0.9
    assert m.loc[(f"{b} vs paper", "rho_changes"), "ci_high"] <= 1.0
    assert m.loc[(f"{a} vs paper", "rho_changes"), "value"] < -0.9
    assert m.loc[(f"{b} vs paper", "rho_means"), "value"] > 0.9
    assert m.loc[(f"{b} vs paper", "sign_agreement"), "value"] == 1.0
    assert m.loc[(f"{a} vs paper", "sign_agreement"), "value"] == 0.0
    assert m.loc[(f"{a} vs paper", "sign_agreement"), "n"] == 9  # Table 10's resolved changes
    # the plan's count beside it: resolved by both the run and the paper's seeds, with the paper's sign
    assert tuple(m.loc[(f"{b} vs paper", "sign_count"), ["value", "n"]]) == (9, 9)
    assert tuple(m.loc[(f"{a} vs paper", "sign_count"), ["value", "n"]]) == (0, 9)
    rise = m.loc[(f"{b} − {a}, vs paper", "rho_changes_difference")]
    assert rise["value"] > 1.5 and rise["ci_low"] > 0
    for (_, measure), r in m.iterrows():  # percentile intervals: ordered and in range (a point may sit outside)
        assert measure == "sign_count" or -2 <= r["ci_low"] <= r["ci_high"] <= 2
    f = flips(steps, 0, 1)
    assert "step3.width" in f["flip"] and "step0" not in f["flip"]


def test_the_bootstrap_is_paired_by_seed_and_repeatable(tmp_path):
    # a seed offset shared by every step cancels in each paired change: resampling seeds moves no Δ,
    # so the two runs' changes correlate perfectly in every draw
    order = {s: i for i, s in enumerate(PAPER)}  # i^2 / 1000 breaks the paper's tied changes (0.14, 0.65)
    a = _folder(tmp_path / "a", lambda s, p, k: p + order[s] ** 2 / 1000 + 5.0 * k)
    b = _folder(tmp_path / "b", lambda s, p, k: p + order[s] ** 2 / 1000 - 3.0 * k)
    _, m = agreement_tables([run_steps(a), run_steps(b)], draws=300)
    pair = m[m["measure"] == "rho_changes"].iloc[-1]
    assert (pair["value"], pair["ci_low"], pair["ci_high"]) == pytest.approx((1.0, 1.0, 1.0))
    _, again = agreement_tables([run_steps(a), run_steps(b)], draws=300)
    pd.testing.assert_frame_equal(m, again)


def test_a_change_of_equal_means_has_no_sign(tmp_path):
    # step1's seeds sum as step0's: a float's +1.4e-14 would count as the paper's + for stage ratio
    step0, step1 = [76.37, 72.7, 70.41], [75.89, 73.01, 70.58]
    assert np.mean(step1) - np.mean(step0) > 0
    run = _folder(tmp_path / "a", lambda s, p, k: step0[k] if s == "step0" else step1[k] if s == "step1"
                  else p - 5 + 0.3 * k)  # every other change the paper's, exactly
    steps, m = agreement_tables([run_steps(run)], draws=300)
    assert steps.set_index("step").loc["step1", "delta_0"] == pytest.approx(0, abs=1e-9)
    assert m.set_index("measure").loc["sign_agreement", "value"] == pytest.approx(8 / 9)


def test_the_command_prints_the_pre_registered_verdict_and_draws_the_figure(tmp_path, capsys):
    a = _folder(tmp_path / "a", lambda s, p, k: p + 0.2 * k)
    b = _folder(tmp_path / "b", lambda s, p, k: p + 0.3 * k + (0.1 if s == "step7" else 0.0), epochs=30)
    assert main(["agreement", str(a), str(b), "--draws", "200"]) == 0
    out = capsys.readouterr().out
    assert "| step | label | paper top-1 | paper Δ (Welch) | a, 10 ep: mean / Δ [95% CI] |" in out
    assert "a, 10 ep -> b, 30 ep: no evidence that agreement rises" in out
    assert main(["agreement", str(a), str(b), "--format", "csv", "-o", str(tmp_path / "m.csv")]) == 0
    assert set(pd.read_csv(tmp_path / "m.csv")["measure"]) == {"rho_changes", "rho_means", "sign_agreement",
                                                                "sign_count", "rho_changes_difference"}
    png = tmp_path / "agreement.png"
    assert main(["plot", "--agreement", str(a), str(b), "-o", str(png)]) == 0
    assert png.stat().st_size > 20_000


def test_bad_input_is_one_sentence(tmp_path, capsys):
    a = _folder(tmp_path / "a", lambda s, p, k: p)
    assert main(["agreement", str(a), "--roadmap", "convnext-b"]) == 2
    assert "has no rows of roadmap 'convnext-b'; it has convnext-t" in capsys.readouterr().err
    assert main(["agreement", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["agreement", str(a), "--draws", "5"]) == 2


def test_runs_with_no_common_step_change_say_so_without_numpy_warnings(tmp_path, capsys):
    rows = [dict.fromkeys(COLUMNS) | {"roadmap": "convnext-t", "status": "ok", "step": "step0", "seed": k,
                                      "top1": 50.0 + k, "epochs": 1} for k in range(2)]
    (tmp_path / "one").mkdir()
    pd.DataFrame(rows, columns=COLUMNS).to_csv(tmp_path / "one" / "results.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["agreement", str(tmp_path / "one"), "--draws", "100"]) == 0
    assert "n/a (too few steps or no spread)" in capsys.readouterr().out
    assert main(["plot", "--agreement", str(tmp_path / "one"), "-o", str(tmp_path / "a.png")]) == 2
    assert "no step change in common with the paper to draw" in capsys.readouterr().err
