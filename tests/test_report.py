"""`roadmap report`: the figure's numbers as a Markdown table to paste, or CSV."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from roadmap.cli import main
from roadmap.present.report import report_table, report_tables, to_csv, to_markdown
from roadmap.runs.table import COLUMNS


@pytest.fixture
def folder(tmp_path):
    rows = [
        {"step": "step0", "seed": 0, "top1": 40.0}, {"step": "step0", "seed": 1, "top1": 41.0},
        {"step": "step5.k7", "seed": 0, "top1": 45.0},
        {"step": "step5.k9", "seed": 0, "top1": None, "status": "failed", "error": "loss is NaN | at epoch 2"},
    ]
    df = pd.DataFrame([dict.fromkeys(COLUMNS) | {"roadmap": "convnext-t", "regime": "R-50", "status": "ok",
                                                 "params": 2.5e6, "gflops": 0.1, "train_img_s": 1234.0} | r
                       for r in rows], columns=COLUMNS)
    df.to_csv(tmp_path / "results.csv", index=False)
    return tmp_path


def test_table_has_every_step_with_the_paper_beside_it(folder):
    t = report_table(folder).set_index("step")
    assert len(t) == 16 and t.loc["step7", "status"] == "missing"
    assert t.loc["step0", "top1_mean"] == 40.5 and t.loc["step0", "n"] == 2
    assert t.loc["step5.k7", "paper_delta"] == pytest.approx(80.57 - 79.92) and t.loc["step5.k7", "paper_resolved"]
    assert t.loc["step5.k9", "status"] == "failed"


def test_markdown_is_a_table_with_mean_std_n(folder):
    md = to_markdown(report_table(folder)).splitlines()
    assert md[0].startswith("| step | label | top-1 mean [95% CI] (n) | Δ vs parent [95% CI] | verdict |")
    assert len(md) == 2 + 16 and all(line.startswith("|") and line.endswith("|") for line in md)
    assert "| step0 | ResNet-50 | 40.50 [34.15, 46.85] (2) |  |  |  | 78.82 |" in md[2]
    assert "kernel 9 (not adopted) | failed: loss is NaN \\| at epoch 2 |" in md[11]
    assert "| not run |" in md[-1] and md[-1].count("|") == md[0].count("|")


def test_csv_round_trips_the_numbers(folder):
    back = pd.read_csv(io.StringIO(to_csv(report_table(folder))))
    assert back.loc[0, "top1_mean"] == 40.5 and back.loc[0, "params_m"] == 2.5


def test_cli_report_prints_markdown(folder, capsys):
    assert main(["report", str(folder)]) == 0
    assert capsys.readouterr().out.startswith("| step | label |")
    assert main(["report", str(folder / "nowhere")]) == 2


def _seeded(tmp_path, step1_minus_step0):
    """step0 at 40, 42, 44 over seeds 0..2; step1 = step0 + the given per-seed deltas."""
    base = {0: 40.0, 1: 42.0, 2: 44.0}
    rows = [{"step": "step0", "seed": k, "top1": v} for k, v in base.items()]
    rows += [{"step": "step1", "seed": k, "top1": base[k] + d} for k, d in enumerate(step1_minus_step0)]
    df = pd.DataFrame([dict.fromkeys(COLUMNS) | {"roadmap": "convnext-t", "status": "ok"} | r for r in rows],
                      columns=COLUMNS)
    df.to_csv(tmp_path / "results.csv", index=False)
    return report_table(tmp_path).set_index("step")


def test_a_clear_step_is_resolved_and_the_paired_delta_is_the_hand_computation(tmp_path):
    t = _seeded(tmp_path, [4.9, 5.0, 5.1])
    # per-seed differences 4.9, 5.0, 5.1: mean 5, sd 0.1, half-width t(0.975, 2) * 0.1 / sqrt(3)
    half = 4.302652729749463 * 0.1 / 3 ** 0.5
    assert t.loc["step1", "delta"] == pytest.approx(5.0)
    assert (t.loc["step1", "delta_ci_low"], t.loc["step1", "delta_ci_high"]) == pytest.approx((5 - half, 5 + half))
    assert t.loc["step1", "resolved"] and t.loc["step1", "p_improve"] > 0.99 and t.loc["step1", "parent"] == "step0"
    # unpaired, the seed spread (40..44) would swamp it: the interval of the mean is wide
    assert t.loc["step1", "top1_ci_high"] - t.loc["step1", "top1_ci_low"] > 8
    assert "better" in to_markdown(report_table(tmp_path)).splitlines()[3]


def test_a_step_whose_seeds_straddle_zero_is_not_resolved(tmp_path):
    t = _seeded(tmp_path, [0.6, -0.3, 0.4])  # mean +0.23, sd 0.47: about 35 seeds to resolve
    assert not t.loc["step1", "resolved"] and t.loc["step1", "delta_ci_low"] < 0 < t.loc["step1", "delta_ci_high"]
    assert t.loc["step1", "seeds_needed"] > 3
    assert "≈ within noise" in to_markdown(report_table(tmp_path)).splitlines()[3]


def test_equal_means_read_as_no_change_not_a_negative_zero(tmp_path):
    rows = [{"step": "step0", "seed": k, "top1": v} for k, v in enumerate([79.58, 79.77, 79.93])]
    rows += [{"step": "step1", "seed": k, "top1": v} for k, v in enumerate([79.83, 79.96, 79.49])]
    pd.DataFrame([dict.fromkeys(COLUMNS) | {"roadmap": "convnext-t", "status": "ok"} | r for r in rows],
                 columns=COLUMNS).to_csv(tmp_path / "results.csv", index=False)
    delta = report_table(tmp_path).set_index("step").loc["step1", "delta"]
    assert delta != 0 and abs(delta) < 1e-12  # equal sums, yet a float's -4.7e-15
    assert "| +0.00 [-0.95, +0.95] | ≈ within noise |" in to_markdown(report_table(tmp_path))


def test_one_seed_gives_empty_intervals_without_errors(tmp_path):
    rows = [{"step": "step0", "seed": 0, "top1": 40.0}, {"step": "step1", "seed": 0, "top1": 41.0}]
    pd.DataFrame([dict.fromkeys(COLUMNS) | {"roadmap": "convnext-t", "status": "ok"} | r for r in rows],
                 columns=COLUMNS).to_csv(tmp_path / "results.csv", index=False)
    t = report_table(tmp_path).set_index("step")
    assert t.loc["step1", "delta"] == 1.0 and not t.loc["step1", "resolved"]
    for col in ("top1_ci_low", "top1_ci_high", "delta_ci_low", "delta_ci_high", "p_improve", "seeds_needed"):
        assert pd.isna(t.loc["step1", col]), col
    assert "| +1.00 | ≈ (one seed: no interval) |" in to_markdown(report_table(tmp_path))


def test_agreement_with_the_paper_counts_ranks_and_resolved_signs():
    import pandas as pd

    from roadmap.present.agreement import agreement
    rows = pd.DataFrame({
        "top1_mean": [60.0, 61.0, 59.0, 63.0, float("nan")],
        "paper_top1": [78.0, 79.0, 80.0, 81.0, 82.0],
        "delta": [float("nan"), 1.0, -2.0, 4.0, float("nan")],
        "resolved": [False, True, True, True, False],
        "paper_delta": [float("nan"), 1.0, 1.0, 0.0, 1.0],   # the last resolved change: a paper change of 0
        "paper_resolved": [False, True, False, False, True],
    })
    a = agreement(rows)
    assert a.n_steps == 4 and a.rho == pytest.approx(0.4)  # ranks 2,3,1,4 against 1,2,3,4: 1 - 6*6/(4*15)
    assert (a.resolved, a.same_sign, a.both_resolved, a.both_same_sign) == (2, 1, 1, 1)
    assert "Spearman ρ" in a.sentence() and "of the 2 step changes resolved here, 1 have" in a.sentence()


def test_the_markdown_report_ends_with_the_agreement(repo, capsys):
    from roadmap.cli import main
    assert main(["report", str(repo / "results" / "embedded-smoke-cpu")]) == 0
    assert "Agreement with the paper: Spearman ρ" in capsys.readouterr().out.splitlines()[-1]


def _rows(tmp_path, values: dict[str, list[float]]):
    rows = [dict.fromkeys(COLUMNS) | {"roadmap": "convnext-t", "regime": "R-50", "status": "ok", "step": s,
                                      "seed": k, "top1": v} for s, vs in values.items() for k, v in enumerate(vs)]
    pd.DataFrame(rows, columns=COLUMNS).to_csv(tmp_path / "results.csv", index=False)
    return tmp_path


def test_small_samples_stay_honest(tmp_path, capsys):
    # two seeds far apart: the t-interval of the mean would run past 0% and 100%
    t = report_table(_rows(tmp_path, {"step0": [2.0, 98.0], "step1": [3.0, 99.0]})).set_index("step")
    assert (t.loc["step0", "top1_ci_low"], t.loc["step0", "top1_ci_high"]) == (0.0, 100.0)
    assert main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Agreement with the paper" not in out  # 2 steps rank nothing
    assert "| step1 | stage ratio | 51.00 [0.00, 100.00] (2) | +1.00 [+1.00, +1.00] | better |  |" in out  # no power


def test_no_resolved_change_is_said_plainly(tmp_path, capsys):
    values = {s: [60.0 + i * 0.1 + k, 60.0 + i * 0.1 - k] for i, s in enumerate(
        ["step0", "step1", "step2", "step3.depthwise", "step3.width", "step4"]) for k in [i % 2 + 1]}
    assert main(["report", str(_rows(tmp_path, values))]) == 0
    out = capsys.readouterr().out
    assert "no step change is resolved here" in out and "of the 0" not in out


def test_a_report_reads_each_file_of_its_folder_once(repo, monkeypatch):
    """One RunFolder per command: results.csv and run.json are each read once, however many readers ask."""
    from roadmap.runs import table
    counts = {}

    def counted(name, real):
        def read(path):
            counts[name] = counts.get(name, 0) + 1
            return real(path)
        return read

    monkeypatch.setattr(table, "_read_csv", counted("results", table._read_csv))
    monkeypatch.setattr(table, "_read_run_json", counted("run.json", table._read_run_json))
    report_tables(repo / "results" / "cifar10-cpu-proxy")
    assert counts == {"results": 1, "run.json": 1}


def test_a_grid_is_read_by_several_keys_and_refused_by_one(tmp_path, capsys):
    rows = [dict.fromkeys(COLUMNS) | {"roadmap": "convnext-t", "regime": "R-50", "status": "ok", "step": step,
                                      "seed": k, "top1": 40.0 + k + 2 * e / 10 + (lr == "0.004") + (step == "step1"),
                                      "sweep": f"epochs={e} lr={lr}", "recipe_hash": f"{e}{lr[-1]}".zfill(12)}
            for e in (10, 30) for lr in ("0.001", "0.004") for step in ("step0", "step1") for k in range(2)]
    pd.DataFrame(rows, columns=COLUMNS).to_csv(tmp_path / "results.csv", index=False)
    assert main(["report", str(tmp_path), "--by", "epochs"]) == 2
    assert "read one at a time with --by lr" in capsys.readouterr().err
    assert main(["report", str(tmp_path), "--by", "epochs,lr", "--format", "csv"]) == 0
    back = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert back.groupby(["epochs", "lr"]).size().to_dict() == {(10, 0.001): 16, (10, 0.004): 16, (30, 0.001): 16,
                                                             (30, 0.004): 16}
    step0 = back[back["step"] == "step0"].set_index(["epochs", "lr"])["top1_mean"]
    assert step0.loc[(30, 0.004)] == pytest.approx(40.5 + 6 + 1)
