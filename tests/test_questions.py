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
from roadmap.present.questions import question_table, reading
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
    ("higher", 3, 1.0, True, "kept"), ("higher", 3, -1.0, True, "contradicted"), ("higher", 1, 5.0, False, "not seen"),
    ("level", 3, 1.0, True, "not level"), ("level", 3, 0.1, False, "reported (level has no sign)"),
    ("none", 3, 3.0, True, "reported (none published)"), ("higher", 0, float("nan"), False, "not run"),
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
    ([{"a": "step0", "b": "step1"}], "a question is a mapping with 'ask', 'a', 'b' and 'published'"),
])
def test_a_bad_question_is_one_sentence_naming_the_file(tmp_path, questions, says):
    with pytest.raises(RoadmapError, match="mine.yaml, question #1: |mine.yaml: 'questions'") as e:
        _file(tmp_path, questions)
    assert says in str(e.value) and "\n" not in str(e.value)


def _folder(tmp_path, values: dict[str, list[float]], name="isotropic"):
    rows = [dict.fromkeys(COLUMNS) | {"roadmap": name, "regime": "DeiT-S", "step": step, "seed": seed, "top1": v,
                                      "status": "ok"}
            for step, vs in values.items() for seed, v in enumerate(vs)]
    pd.DataFrame(rows, columns=COLUMNS).to_csv(tmp_path / "results.csv", index=False)
    return tmp_path


VALUES = {  # per seed: step1 lower than step0 by 2-3 (resolved), ConvMixer higher than DeiT by ~0.1 (noise)
    "step0": [60.0, 62.0, 61.0], "step1": [57.5, 59.0, 58.5], "step3.dwconv": [63.0, 64.0, 63.5],
    "step3.convmixer": [60.0, 62.5, 60.8], "step4.depth": [70.0, 71.0, 70.5],
}


def test_the_table_reads_each_question_from_the_seeds(tmp_path):
    t = question_table(_folder(tmp_path, VALUES)).set_index("b")
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
    assert "### Questions: published direction against ours" in out
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
