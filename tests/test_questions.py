"""A roadmap file's questions (pairs of steps with a published direction), and their mechanical
reading from a results folder: kept, contradicted, not seen, or only reported."""
from __future__ import annotations

import io

import pandas as pd
import pytest
import yaml

import roadmap
from roadmap.arch.steps import parse
from roadmap.cli import main
from roadmap.errors import RoadmapError
from roadmap.present.questions import reading
from roadmap.present.report import question_tables
from roadmap.runs.table import COLUMNS


def test_the_isotropic_roadmap_poses_the_plans_seven_pairs():
    asked = [(q.a, q.b, q.published) for q in roadmap.load("isotropic").questions]
    assert asked == [  # README, "The isotropic roadmap at 32 px": questions 1-5, as written before the rows
        ("step0", "step1", "lower"), ("step2.pos", "step3.dwconv", "none"), ("step0", "step3.convmixer", "higher"),
        ("step3.dwconv", "step3.convmixer", "higher"), ("step3.dwconv", "step3.convnext", "none"),
        ("step0", "step4.depth", "level"), ("step4.depth", "step4.patch8", "higher")]
    assert roadmap.load("isotropic", "leave-one-out").questions == ()  # ablations have other steps


@pytest.mark.parametrize("published, n, delta, resolved, expected", [
    ("lower", 3, -2.0, True, "kept"), ("lower", 3, 2.0, True, "contradicted"), ("lower", 3, -2.0, False, "not seen"),
    ("higher", 3, 1.0, True, "kept"), ("higher", 3, -1.0, True, "contradicted"),
    ("higher", 1, 5.0, False, "not seen (one seed: no interval)"),
    ("level", 3, 1.0, True, "not level"), ("level", 3, 0.1, False, "reported (level has no sign)"),
    ("none", 3, 3.0, True, "reported (none published)"), ("higher", 0, float("nan"), False, "no seed in common"),
])
def test_reading_follows_the_rule_written_before_the_rows(published, n, delta, resolved, expected):
    assert reading(published, n, delta, resolved) == expected


def _file(tmp_path, questions):
    data = {"name": "mine", "base": "deit_s", "steps": [{"id": "step0"}, {"id": "step1", "transforms": ["global_pool"]}],
            "questions": questions}
    return parse(data, tmp_path / "mine.yaml")


@pytest.mark.parametrize("questions, says", [
    ("step0 vs step1", "'questions' must be a list"),
    ([{"ask": "x", "a": "step0", "b": "step9", "published": "higher"}], "question #1: no step 'step9'"),
    ([{"ask": "x", "a": "step0", "b": "step1", "published": "up"}], "published 'up' is not one of higher, lower"),
    ([{"ask": "x", "a": "step0", "b": "step1", "published": "higher", "why": 1}], "unknown key(s) ['why']"),
    ([{"ask": "x", "a": "step1", "b": "step1", "published": "higher"}], "'a' and 'b' are both 'step1'"),
    ([{"a": "step0", "b": "step1"}], "a question is a mapping with 'ask', 'a', 'b' and 'published', each given"),
    ([{"ask": "x", "a": "step0", "b": "step1", "published": None}], "'published', each given"),
    ([{"ask": "x", "a": "step0", "b": "step1", "published": "higher"},
      {"ask": "y", "a": "step1", "b": "step0", "published": "lower"}], "question #1 already compares step1 and step0"),
])
def test_a_bad_question_is_one_sentence_naming_the_file(tmp_path, questions, says):
    with pytest.raises(RoadmapError, match=r"mine.yaml, question #\d: |mine.yaml: 'questions'") as e:
        _file(tmp_path, questions)
    assert says in str(e.value) and "\n" not in str(e.value)


def _folder(tmp_path, values: dict[str, list[float]], name="isotropic"):
    rows = [dict.fromkeys(COLUMNS) | {"roadmap": name, "regime": "DeiT-S", "step": step, "seed": seed, "top1": v,
                                      "status": "ok"}
            for step, vs in values.items() for seed, v in (vs.items() if isinstance(vs, dict) else enumerate(vs))]
    pd.DataFrame(rows, columns=COLUMNS).to_csv(tmp_path / "results.csv", index=False)
    return tmp_path


VALUES = {  # per seed: step1 lower than step0 by 2-3 (resolved), ConvMixer higher than DeiT by ~0.1 (noise)
    "step0": [60.0, 62.0, 61.0], "step1": [57.5, 59.0, 58.5], "step3.dwconv": [63.0, 64.0, 63.5],
    "step3.convmixer": [60.0, 62.5, 60.8], "step4.depth": [70.0, 71.0, 70.5],
}


def test_the_table_reads_each_question_from_the_seeds(tmp_path):
    [(label, t)] = question_tables(_folder(tmp_path, VALUES))
    assert label == ""
    t = t.set_index("b")
    assert list(t.index) == ["step1", "step3.dwconv", "step3.convmixer", "step3.convmixer", "step3.convnext",
                             "step4.depth", "step4.patch8"]
    first = t.iloc[0]
    assert first["delta"] == pytest.approx(-2.6666667) and first["n"] == 3 and first["reading"] == "kept"
    assert first["a_mean"] == 61.0 and first["b_mean"] == pytest.approx(58.3333333)
    assert list(t["reading"]) == ["kept", "not run", "not seen", "contradicted", "not run", "not level", "not run"]


def test_cli_appends_the_questions_to_the_report_and_prints_them_alone(tmp_path, capsys):
    folder = _folder(tmp_path, VALUES)
    assert main(["report", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "Questions the roadmap file poses, published direction against ours:" in out
    assert "| attention -> MLP over patches | step1 − step0 | 3 | 61.00 -> 58.33 | -2.67 [" in out
    assert main(["report", str(folder), "--questions", "--format", "csv"]) == 0
    back = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(back) == 7 and back.loc[0, "reading"] == "kept" and back.loc[6, "reading"] == "not run"


def test_questions_of_a_roadmap_that_poses_none_is_one_sentence(tmp_path, capsys):
    folder = _folder(tmp_path, {"step0": [40.0, 41.0]}, name="convnext-t")
    assert main(["report", str(folder), "--questions"]) == 2
    err = capsys.readouterr().err.strip()
    assert "poses questions" in err and len(err.splitlines()) == 1
    assert main(["report", str(folder)]) == 0 and "Questions" not in capsys.readouterr().out


def test_a_users_roadmap_file_can_pose_questions(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"name": "mine", "base": "deit_s",
                                    "steps": [{"id": "step0"}, {"id": "step1", "transforms": ["global_pool"]}],
                                    "questions": [{"ask": "pool", "a": "step0", "b": "step1", "published": "higher"}]}))
    assert [q.published for q in roadmap.load(str(path)).questions] == ["higher"]


def test_a_stage_id_names_its_last_adopted_sub_step_and_text_is_one_line(tmp_path):
    rm = parse({"name": "mine", "base": "resnet50", "steps": [
        {"id": "step0"}, {"id": "step1.a", "transforms": [{"stage_ratio": {"depths": [3, 3, 9, 3]}}]},
        {"id": "step1.b", "adopted": False, "transforms": [{"stage_ratio": {"depths": [3, 3, 3, 3]}}]}],
        "questions": [{"ask": "ratio\n  1:1:3:1", "a": "step0", "b": "step1", "published": "higher",
                       "source": "paper | table 10\n"}]}, tmp_path / "mine.yaml")
    [q] = rm.questions
    assert (q.a, q.b, q.ask, q.source) == ("step0", "step1.a", "ratio 1:1:3:1", "paper | table 10")


def test_not_run_is_told_from_no_seed_in_common(tmp_path):
    [(_, t)] = question_tables(_folder(tmp_path, {"step0": [60.0, 61.0], "step1": {2: 55.0, 3: 56.0}}))
    assert t.loc[0, "reading"] == "no seed in common" and t.loc[0, "n"] == 0
    assert t.loc[1, "reading"] == "not run"  # step2.pos was never trained


def _swept(tmp_path):
    rows = []
    for epochs, shift in ((10, -3.0), (30, 3.0)):  # step1 below step0 at 10 epochs, above at 30
        for step, base in (("step0", 60.0), ("step1", 60.0 + shift)):
            rows += [dict.fromkeys(COLUMNS) | {"roadmap": "isotropic", "regime": "DeiT-S", "step": step, "seed": k,
                                               "top1": base + k + 0.1 * k * k * (step == "step1"), "status": "ok",
                                               "sweep": f"epochs={epochs}", "epochs": epochs}
                     for k in range(3)]
    pd.DataFrame(rows, columns=COLUMNS).to_csv(tmp_path / "results.csv", index=False)
    return tmp_path


def test_a_swept_folder_is_read_one_value_at_a_time_never_mixed(tmp_path, capsys):
    folder = _swept(tmp_path)
    for args in (["report", str(folder)], ["report", str(folder), "--questions"]):
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert "step step0, seed 0 has rows of 2 settings (epochs=10; epochs=30)" in err and "--by" in err
        assert len(err.splitlines()) == 1
    parts = dict(question_tables(folder, by="epochs"))
    assert list(parts) == ["epochs=10", "epochs=30"]
    assert parts["epochs=10"].loc[0, "reading"] == "kept" and parts["epochs=30"].loc[0, "reading"] == "contradicted"
    assert main(["report", str(folder), "--by", "epochs"]) == 0
    out = capsys.readouterr().out
    assert out.count("Questions the roadmap file poses") == 2 and out.index("### epochs=30") > out.index("| kept |")


def test_a_reading_between_arms_near_chance_says_so(tmp_path, capsys):
    folder = _folder(tmp_path, {"step0": [12.0, 13.0, 12.5], "step1": [10.0, 10.5, 10.2]})
    (folder / "run.json").write_text('{"invocations": [{"roadmap": "isotropic", "num_classes": 10}]}')
    assert main(["report", str(folder), "--questions"]) == 0
    assert "| kept; near chance (10%) |" in capsys.readouterr().out
