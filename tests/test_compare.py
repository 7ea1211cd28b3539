"""`roadmap compare`: any two arms, paired by seed, with the report's statistics."""
from __future__ import annotations

import pandas as pd
import pytest

from roadmap.cli import main
from roadmap.present.compare import compare_folders, compare_steps
from roadmap.runs.table import COLUMNS


def _folder(path, values: dict[str, list[float]], roadmap="convnext-t"):
    rows = [dict.fromkeys(COLUMNS) | {"roadmap": roadmap, "status": "ok", "step": step, "seed": k, "top1": v}
            for step, vs in values.items() for k, v in enumerate(vs)]
    path.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(path / "results.csv", index=False)
    return path


def test_two_folders_compare_every_common_step_paired_by_seed(tmp_path):
    a = _folder(tmp_path / "a", {"step0": [40, 42, 44], "step1": [50, 51, 52]})
    b = _folder(tmp_path / "b", {"step0": [42.9, 45.0, 47.1], "step1": [50.3, 50.6, 52.2], "step2": [60, 61, 62]})
    t = compare_folders(a, b).set_index("step")
    assert list(t.index) == ["step0", "step1"]  # step2 is only in B
    assert t.loc["step0", "delta"] == pytest.approx(3.0) and t.loc["step0", "resolved"]  # diffs 2.9, 3.0, 3.1
    assert not t.loc["step1", "resolved"]  # diffs +0.3, -0.4, +0.2 straddle 0
    half = 4.302652729749463 * 0.1 / 3 ** 0.5
    assert (t.loc["step0", "delta_ci_low"], t.loc["step0", "delta_ci_high"]) == pytest.approx((3 - half, 3 + half))


def test_two_steps_of_one_folder(tmp_path, capsys):
    f = _folder(tmp_path / "f", {"step6.ln": [61.0, 62.0, 63.0], "step7": [60.0, 61.5, 62.0]})
    t = compare_steps(f, "step6.ln", "step7")
    assert t["delta"].item() == pytest.approx(-2.5 / 3) and t["n"].item() == 3
    assert main(["compare", "step6.ln", "step7", "--results", str(f)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| step | n | A | B | Δ B − A [95% CI]") and "| step7 - step6.ln | 3 |" in out


def test_one_sentence_errors(tmp_path, capsys):
    f = _folder(tmp_path / "f", {"step0": [1.0]})
    assert main(["compare", "step0", "step9", "--results", str(f)]) == 2
    assert "no finished seed of step 'step9'" in capsys.readouterr().err
    g = _folder(tmp_path / "g", {"step5": [1.0]})
    assert main(["compare", str(f), str(g)]) == 2
    assert "no finished step in common" in capsys.readouterr().err
    both = pd.concat([pd.read_csv(f / "results.csv"), pd.read_csv(f / "results.csv").assign(roadmap="convnext-b")])
    both.to_csv(f / "results.csv", index=False)
    assert main(["compare", str(f), str(f), "--roadmap", "convnext-s"]) == 2
    assert "has no rows of roadmap 'convnext-s'" in capsys.readouterr().err
    assert main(["compare", str(f), str(f), "--design", "add-one"]) == 2
    assert "has no add-one rows (it has path); choose one with --design" in capsys.readouterr().err


def test_a_folder_of_several_roadmaps_compares_each_as_report_reads_them(tmp_path, capsys):
    """One row per roadmap and step (report's default: all of them), or the one --roadmap names."""
    a = _folder(tmp_path / "a", {"step0": [40, 42, 44]})
    pd.concat([pd.read_csv(a / "results.csv"), pd.read_csv(a / "results.csv").assign(
        roadmap="convnext-b", top1=[50, 52, 54])]).to_csv(a / "results.csv", index=False)
    b = _folder(tmp_path / "b", {"step0": [41, 43, 45]})
    pd.concat([pd.read_csv(b / "results.csv"), pd.read_csv(b / "results.csv").assign(
        roadmap="convnext-b", top1=[53, 55, 57])]).to_csv(b / "results.csv", index=False)
    t = compare_folders(a, b).set_index("step")["delta"]
    assert t.to_dict() == {"convnext-t step0": pytest.approx(1.0), "convnext-b step0": pytest.approx(3.0)}
    assert compare_folders(a, b, roadmap="convnext-b")[["step", "delta"]].values.tolist() == [["step0", 3.0]]
    steps = compare_steps(a, "step0", "step0")["step"].tolist()
    assert steps == ["convnext-t step0 - step0", "convnext-b step0 - step0"]


def test_folders_from_two_processors_are_compared_with_a_warning(tmp_path, capsys):
    a = _folder(tmp_path / "a", {"step0": [40, 42, 44]})
    b = _folder(tmp_path / "b", {"step0": [41, 43, 45]})
    assert compare_folders(a, b).attrs["warning"] is None  # rows from before the column: nothing to say
    for folder, cpu in ((a, "Xeon (family 6, model 143)"), (b, "Xeon (family 6, model 167)")):
        pd.read_csv(folder / "results.csv").assign(cpu=cpu).to_csv(folder / "results.csv", index=False)
    assert main(["compare", str(a), str(b)]) == 0
    err = capsys.readouterr().err
    assert "model 143" in err and "model 167" in err and "repeat exactly only on one processor" in err
    pd.read_csv(a / "results.csv").assign(cpu="Xeon (family 6, model 167)").to_csv(a / "results.csv", index=False)
    assert compare_folders(a, b).attrs["warning"] is None


def test_the_means_beside_a_paired_delta_are_over_the_paired_seeds(tmp_path):
    a = _folder(tmp_path / "a", {"step0": [40, 42, 80]})  # seed 2 only in A
    b = _folder(tmp_path / "b", {"step0": [41, 43]})
    t = compare_folders(a, b).iloc[0]
    assert (t["a_mean"], t["b_mean"], t["delta"], t["n"]) == (41.0, 42.0, 1.0, 2)


def test_a_folder_with_a_roadmap_and_its_ablations_compares_the_roadmap(tmp_path):
    a = _folder(tmp_path / "a", {"step0": [40, 42, 44]})
    pd.concat([pd.read_csv(a / "results.csv"), pd.read_csv(a / "results.csv").assign(
        roadmap="convnext-t[leave-one-out]", top1=1.0)]).to_csv(a / "results.csv", index=False)
    b = _folder(tmp_path / "b", {"step0": [41, 43, 45]})
    assert compare_folders(a, b)["delta"].item() == pytest.approx(1.0)  # the path's rows, as report reads them


def test_a_verdict_between_arms_near_chance_says_so(tmp_path, capsys):
    import json
    a = _folder(tmp_path / "a", {"step0": [11.0, 12.0, 13.0], "step1": [40, 41, 42]})
    b = _folder(tmp_path / "b", {"step0": [16.0, 17.0, 18.5], "step1": [50, 51, 52]})
    assert main(["compare", str(a), str(b)]) == 0
    assert "near chance" not in capsys.readouterr().out  # no run.json: the classes are unknown
    for f in (a, b):
        (f / "run.json").write_text(json.dumps({"invocations": [{"num_classes": 10}]}))
    assert main(["compare", str(a), str(b)]) == 0
    step0, step1 = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| step")][1:]
    assert "B better; near chance (10%)" in step0 and "near chance" not in step1
    assert main(["report", str(a)]) == 0  # step1 (40-42) against its parent step0 (11-13, near chance)
    rows = {line.split(" | ")[0][2:]: line for line in capsys.readouterr().out.splitlines() if line.startswith("| step")}
    assert "better; near chance (10%)" in rows["step1"] and "near chance" not in rows["step0"]


def _swept(path, shifts: dict[int, float]):
    """step0 at 60 + seed, step1 shifted per epochs value (and a little per seed), swept over epochs."""
    rows = [dict.fromkeys(COLUMNS) | {"roadmap": "convnext-t", "status": "ok", "step": step, "seed": k,
                                      "top1": 60.0 + k + (shift + 0.1 * k * k if step == "step1" else 0.0),
                                      "sweep": f"epochs={epochs}"}
            for epochs, shift in shifts.items() for step in ("step0", "step1") for k in range(3)]
    path.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(path / "results.csv", index=False)
    return path


def test_a_swept_folder_is_compared_one_value_at_a_time(tmp_path, capsys):
    folder = _swept(tmp_path / "s", {10: -3.0, 30: 3.0})
    assert main(["compare", "step0", "step1", "--results", str(folder)]) == 2
    assert "has rows of 2 settings (epochs=10; epochs=30)" in capsys.readouterr().err
    df = compare_steps(folder, "step0", "step1", by="epochs")
    assert list(df["step"]) == ["epochs=10: step1 - step0", "epochs=30: step1 - step0"]
    assert df["delta"].tolist() == pytest.approx([-3.0 + 0.5 / 3, 3.0 + 0.5 / 3]) and df["resolved"].all()
    other = _swept(tmp_path / "t", {30: 1.0, 100: 0.0})  # two folders: the values both hold
    both = compare_folders(folder, other, by="epochs")
    assert set(both["step"]) == {"epochs=30: step0", "epochs=30: step1"}
