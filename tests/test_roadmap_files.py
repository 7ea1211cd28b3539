"""Roadmap YAML files: shipped ones, your own, and every way a file can be wrong."""
import textwrap

import pytest

import roadmap
from roadmap.cli import main
from roadmap.errors import RoadmapError


def _write(tmp_path, text, name="mine.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_your_own_roadmap_from_the_readme(repo):
    rm = roadmap.load(repo / "examples" / "kernel9-width128.yaml")
    s = rm.spec("k9")
    assert s.widths == (128, 256, 512, 1024)
    assert [op.kernel for op in s.block.ops if op.spatial] == [9]
    assert s.block.ops[0].kind == "dwconv"  # moved up
    assert rm.spec("gelu-ln").norm == "ln" and rm.spec("gelu-ln").act == "gelu"


def test_a_step_starts_from_the_last_adopted_step(tmp_path):
    rm = roadmap.load(_write(tmp_path, """
        base: resnet50
        steps:
          - {id: a, transforms: [depthwise]}
          - {id: b, adopted: false, transforms: [{kernel: {size: 9}}]}
          - {id: c, transforms: [{kernel: {size: 5}}]}
    """))
    assert rm.step("c").parent == "a"
    assert [op.kernel for op in rm.spec("c").block.ops if op.spatial] == [5]


@pytest.mark.parametrize("text,message", [
    ("base: resnet50\nsteps: [ {id: a\n", "malformed YAML"),
    ("base: resnet50\nsteps:\n  - {id: a, transforms: [frobnicate]}\n", "step a: unknown transform 'frobnicate'"),
    ("base: resnet50\nsteps:\n  - {id: a}\n  - {id: a}\n", "step id 'a' appears more than once"),
    ("base: resnet50\nsteps:\n  - {id: a, transforms: [depthwise, depthwise]}\n",
     "step a: depthwise does not apply: the spatial conv is already depthwise"),
    ("base: resnet50\nsteps:\n  - {id: a, transforms: [{kernel: {sz: 9}}]}\n", "step a: kernel: bad arguments"),
    ("base: resnet51\nsteps:\n  - {id: a}\n", "unknown base spec 'resnet51'"),
    ("steps: []\n", "at least 'base' and 'steps'"),
    ("base: resnet50\nsteps:\n  - {id: a, colour: red}\n", "step a: unknown key"),
    ("base: resnet50\nsteps:\n  - {id: a, transforms: [{kernel: {size: 4}}]}\n",
     "step a: kernel gives an invalid network: .* kernel must be odd"),
])
def test_bad_roadmap_files_name_the_file_and_step(tmp_path, text, message):
    p = _write(tmp_path, text)
    with pytest.raises(RoadmapError, match=message) as e:
        roadmap.load(p)
    assert str(p) in str(e.value)


def test_unknown_step_and_unknown_roadmap():
    with pytest.raises(RoadmapError, match="has no step 'step9'"):
        roadmap.load("convnext-t").spec("step9")
    with pytest.raises(RoadmapError, match="unknown roadmap 'convnext-x'"):
        roadmap.load("convnext-x")


def test_cli_steps_lists_every_row(repo, capsys):
    assert main(["steps"]) == 0
    out = capsys.readouterr().out
    for sid in roadmap.load("convnext-t").ids:
        assert sid in out
    assert main(["steps", "--roadmap", str(repo / "examples" / "kernel9-width128.yaml"), "--json"]) == 0
    assert '"id": "k9"' in capsys.readouterr().out


def test_cli_show_prints_spec_and_diff(capsys):
    assert main(["show", "step5.k9"]) == 0
    out = capsys.readouterr().out
    assert "(not adopted)" in out and "changes from step5.k7" in out
    assert "-  - {kind: dwconv, kernel: 7, stride: true}" in out
    assert "+  - {kind: dwconv, kernel: 9, stride: true}" in out


@pytest.mark.parametrize("args,message", [
    (["show", "step9"], "has no step 'step9'"),
    (["steps", "--roadmap", "nowhere.yaml"], "roadmap file nowhere.yaml does not exist"),
])
def test_cli_errors_are_one_line_without_traceback(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_step7_split_adds_the_final_steps_three_changes_one_at_a_time():
    whole, split = roadmap.load("convnext-t"), roadmap.load("convnext-t-step7-split")
    assert split.ids == ["step6.ln", "step7.ds", "step7.ls", "step7"]
    # both ends are convnext-t's networks, so a folder holding convnext-t's rows reuses them
    assert split.spec("step6.ln").hash == whole.spec("step6.ln").hash
    assert split.spec("step7").hash == whole.spec("step7").hash
    assert split.regime == whole.regime  # the same drop path under every recipe
    ds, ls = split.spec("step7.ds"), split.spec("step7.ls")
    assert ds.downsample == "separate" and ds.init == "resnet" and ds.block.layer_scale is None
    assert ls.init == "resnet" and ls.block.layer_scale == 1e-6
    # layer scale adds one parameter per channel and block, and no multiply-add; the init neither
    assert roadmap.complexity(ls) == roadmap.complexity(whole.spec("step7"))
    assert roadmap.complexity(ds)["gflops"] == roadmap.complexity(ls)["gflops"]
    assert roadmap.complexity(ls)["params"] - roadmap.complexity(ds)["params"] == 3 * 96 + 3 * 192 + 9 * 384 + 3 * 768
    assert [s.parent for s in split.steps] == [None, "step6.ln", "step7.ds", "step7.ls"]
    assert len(roadmap.load("convnext-t-step7-split", "add-one").steps) == 4  # the base resolves there too


def test_a_base_from_another_roadmap_must_name_one_of_its_steps(tmp_path):
    with pytest.raises(RoadmapError, match="roadmap convnext-t has no step 'step9'; it has step0, step1"):
        roadmap.load(_write(tmp_path, "base: convnext-t:step9\nsteps:\n  - {id: a}\n"))
