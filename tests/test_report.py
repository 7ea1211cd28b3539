"""`roadmap report`: the figure's numbers as a Markdown table to paste, or CSV."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from roadmap.cli import main
from roadmap.present.report import report_table, to_csv, to_markdown
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
    assert t.loc["step0", "top1"] == 40.5 and t.loc["step0", "n"] == 2
    assert t.loc["step5.k7", "paper_change"] == pytest.approx(80.57 - 79.92)
    assert t.loc["step5.k9", "status"] == "failed"


def test_markdown_is_a_table_with_mean_std_n(folder):
    md = to_markdown(report_table(folder)).splitlines()
    assert md[0].startswith("| step | label | top-1 mean ± std (n) | change vs prev. adopted | paper top-1")
    assert len(md) == 2 + 16 and all(line.startswith("|") and line.endswith("|") for line in md)
    assert "| step0 | ResNet-50 | 40.50 ± 0.71 (2) |  | 78.82 |" in md[2]
    assert "kernel 9 (not adopted) | failed: loss is NaN \\| at epoch 2 |" in md[11]
    assert "| not run |" in md[-1] and md[-1].count("|") == md[0].count("|")


def test_csv_round_trips_the_numbers(folder):
    back = pd.read_csv(io.StringIO(to_csv(report_table(folder))))
    assert back.loc[0, "top1"] == 40.5 and back.loc[0, "params_m"] == 2.5


def test_cli_report_prints_markdown(folder, capsys):
    assert main(["report", str(folder)]) == 0
    assert capsys.readouterr().out.startswith("| step | label |")
    assert main(["report", str(folder / "nowhere")]) == 2
