"""A few hundred generated bad inputs, in-process: one sentence, exit 2, and nothing already there changes."""
from __future__ import annotations

import random

import pandas as pd
import yaml

from roadmap.cli import main
from roadmap.runs.table import COLUMNS
from roadmap.train.recipe import SCHEMA

JUNK = ["abc", "-1", "[1, 2, 3]", "{a: 1}", "1e999", "nan", "", "null", "true", "0", "[", "3.5.1", "∞"]
# values no setting accepts, whatever its type: wrong shapes, impossible ranges, text that is no number
WRONG = {key: ["abc", "{a: x}", "[", "-5"] for key in SCHEMA}


def _check(capsys, argv, files):
    before = {p: p.read_bytes() for p in files}
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, (argv, code, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and err.startswith("roadmap: error: "), err
    assert {p: p.read_bytes() for p in files} == before


def test_bad_recipe_settings(capsys):
    rng = random.Random(0)
    cases = [(k, v) for k, vs in WRONG.items() for v in vs]
    cases += [(f"{rng.choice(list(SCHEMA))}x", rng.choice(JUNK)) for _ in range(40)]  # unknown keys
    for key, value in cases:
        _check(capsys, ["recipe", "smoke", "--set", f"{key}={value}"], [])


def test_mutated_roadmap_files(tmp_path, capsys, repo):
    rng = random.Random(1)
    good = yaml.safe_load((repo / "examples" / "kernel9-width128.yaml").read_text())
    mutations = [
        lambda d: d.pop("base"),
        lambda d: d.update(base=rng.choice(["resnet51", "", 3, None])),
        lambda d: d.update(steps=rng.choice([[], "steps", {"id": 1}])),
        lambda d: d["steps"].append({"id": d["steps"][0]["id"]}),
        lambda d: d["steps"][1].update(colour="red"),
        lambda d: d["steps"][1].update(transforms=[rng.choice(["frobnicate", "depthwise2", 7])]),
        lambda d: d["steps"][2].update(transforms=[{"invert_bottleneck": {"ratio": rng.choice(["x", [1]])}}]),
        lambda d: d["steps"][3].update(transforms=[{"kernel": {"size": rng.choice([0, -3, 4, 8, "k"])}}]),
        lambda d: d["steps"][3].update(transforms=[{"kernel": {"sz": 9}}]),
        lambda d: d["steps"][1].update(transforms=[{"width": {"base": rng.choice([0, -8, "w"])}}]),
        lambda d: d["steps"][1].update(transforms=["depthwise", "depthwise"]),
        lambda d: d["steps"][4].update(transforms=[{"norm": {"kind": rng.choice(["gn", 1, None])}}]),
        lambda d: d["steps"][4].update(transforms=[{"activation": {"act": rng.choice(["swish", 0])}}]),
        lambda d: d["steps"][1].update(transforms=[{"stage_ratio": {"depths": rng.choice([[3, 3], [0, 1, 1, 1]])}}]),
    ]
    path = tmp_path / "mine.yaml"
    for k in range(70):
        d = yaml.safe_load(yaml.safe_dump(good))
        rng.choice(mutations)(d)
        path.write_text(yaml.safe_dump(d) if k % 10 else yaml.safe_dump(d)[:-7] + ": [")  # some are broken YAML
        try:
            _check(capsys, ["show", "step0", "--roadmap", str(path)], [path])
        except AssertionError:
            raise AssertionError(path.read_text()) from None


def test_corrupted_results_tables(tmp_path, capsys):
    rows = [dict.fromkeys(COLUMNS) | {"roadmap": "convnext-t", "step": s, "seed": k, "status": "ok", "top1": 40.0 + k}
            for s in ("step0", "step1") for k in (0, 1)]
    clean = pd.DataFrame(rows, columns=COLUMNS).to_csv(index=False)
    rng = random.Random(2)
    folder = tmp_path / "run"
    folder.mkdir()
    table = folder / "results.csv"
    refused = 0
    for k in range(60):
        df = pd.read_csv(pd.io.common.StringIO(clean)).astype(object)
        df.loc[rng.randrange(len(df)), rng.choice(["seed", "status", "top1", "step"])] = rng.choice(
            ["abc", "-1", "1.5", "", "done", "101"])
        text = df.to_csv(index=False)
        if k % 5 == 0:
            text = text[: rng.randrange(len(clean.splitlines()[0]) + 2, len(text))]  # a file cut short mid-row
        elif k % 5 == 1:
            text = text[: rng.randrange(len(text))] + '"'  # cut short inside a quoted field
        table.write_text(text)
        code = main(["report", str(folder)])
        err = capsys.readouterr().err
        if code == 0:  # the edit happened to leave a valid row (e.g. "1.5" as a top-1, a cut at a line's end)
            continue
        refused += 1
        assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert table.read_text() == text
    assert refused >= 45, refused  # most edits break a row; "1.5" top-1s and whole-line cuts do not


def test_errors_point_at_the_place(tmp_path, capsys, repo):
    """The new user's list (issue 24): each one sentence, exit 2, and it names where the fault is."""
    good = (repo / "examples" / "kernel9-width128.yaml").read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(good.replace("steps:", "steps: [", 1))
    d = yaml.safe_load(good)
    d["steps"][-1]["transforms"] = [{"kernel": {"size": "nine"}}]
    nine = tmp_path / "nine.yaml"
    nine.write_text(yaml.safe_dump(d))
    step = d["steps"][-1]["id"]
    cases = [
        (["show", "k9", "--roadmap", str(broken)], ", line ", ", column ", "malformed YAML"),
        (["show", step, "--roadmap", str(nine)], f"spec '{d['name']}:{step}'", "not 'nine'"),
        (["run", "--data", "embedded:100000", "--out", str(tmp_path / "r")], "embedded:100000", "at most"),
        (["run", "--data", f"{tmp_path}:abc", "--out", str(tmp_path / "r")], "not a number"),
        (["run", "--upto", "step5", "--only", "step1", "--out", str(tmp_path / "r")], "--upto and --only"),
    ]
    for argv, *expected in cases:
        _check(capsys, argv, [broken, nine])
        main(argv)
        err = capsys.readouterr().err
        assert all(e in err for e in expected), (argv, err)
    assert not (tmp_path / "r").exists()


def test_a_row_cut_short_is_refused_by_every_reader(repo, tmp_path, capsys):
    """A copy that stopped mid-row: report, plot, compare and run name the line; nothing is rewritten
    (pandas alone would read the stub as a finished row of 1% top-1)."""
    import shutil
    folder = tmp_path / "cut"
    shutil.copytree(repo / "results" / "embedded-smoke-cpu-fp32", folder)
    table = folder / "results.csv"
    lines = table.read_text().splitlines()
    text = "\n".join(lines[:-1] + [lines[-1][:lines[-1].index(",ok,") + 5]]) + "\n"
    table.write_text(text)
    files = [table, folder / "epochs.csv", folder / "run.json"]
    for argv in (["report", str(folder)], ["plot", "--results", str(folder), "-o", str(tmp_path / "p.png")],
                 ["compare", str(folder), str(folder)], ["run", "--out", str(folder), "--only", "step0"]):
        _check(capsys, argv, files)
        main(argv)
        assert f"line {len(lines)}: the row is cut short" in capsys.readouterr().err, argv
    assert not (tmp_path / "p.png").exists()
