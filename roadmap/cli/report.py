"""`roadmap report FOLDER`: a results folder's numbers as a Markdown or CSV table."""
from __future__ import annotations

import argparse
import textwrap

from roadmap.arch.names import DESIGNS
from roadmap.cli import emit

EXAMPLES = """examples:
  roadmap report results/smoke                  # Markdown, ready to paste
  roadmap report results/smoke --format csv -o smoke.csv
  roadmap report results/cifar10-cpu-proxy --roadmap convnext-t-step7-split
  roadmap report results/NAME --questions     # the questions alone (steps/isotropic.yaml poses some)
"""


def register(sub, name: str, help: str):
    s = sub.add_parser(
        name, help=help,
        description=textwrap.fill(
            "One row per roadmap step: top-1 mean over seeds with its 95% t interval (n), the change from "
            "the previous adopted step paired by seed with its 95% interval, whether that change is resolved "
            "(the interval excludes 0) and the seeds needed to resolve it, the paper's top-1 and change "
            "(Welch on Table 10's 3-seed mean ± std), params (M), GFLOPs and training images/s. Steps not "
            "run or failed are listed as such. The same numbers as `roadmap plot --results`. Markdown "
            "ends with the agreement with the paper: Spearman's rank correlation of the per-step means "
            "with the paper's, and how many resolved changes have the paper's sign. When the roadmap file "
            "poses questions (pairs of steps, each with a published direction), a last table gives each "
            "pair's change paired by seed and its reading by a fixed rule.", 79),
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("folder", help="a results folder with results.csv (from `roadmap run`)")
    s.add_argument("--format", choices=["md", "csv"], default="md",
                   help="md: a Markdown table; csv: unformatted numbers, one column each (default: %(default)s)")
    s.add_argument("-o", "--out", metavar="FILE", help="write to FILE instead of printing")
    s.add_argument("--design", default="path", choices=DESIGNS,
                   help="which design's rows, when the folder holds several (default: %(default)s)")
    s.add_argument("--roadmap", help="which roadmap's rows, when the folder holds several (default: all)")
    s.add_argument("--by", metavar="KEY", help="one table per value of a recipe setting the rows were swept or "
                                               "set over, e.g. --by epochs (a grid: --by epochs,lr)")
    s.add_argument("--questions", action="store_true",
                   help="only the questions the roadmap file poses: each pair's change paired by seed, its "
                        "published direction and the reading: kept or contradicted (resolved with the "
                        "published sign or the other), not seen (unresolved), not level (a resolved change "
                        "where level was published), reported (none published, or level and unresolved), "
                        "not run, no seed in common")
    s.set_defaults(fn=report)


def report(a) -> int:
    import pandas as pd  # pandas (and torch-free presenters) only when a report is asked for

    from roadmap.present import questions
    from roadmap.present.report import question_tables, report_tables, to_csv, to_markdown
    if a.questions:
        return _questions(a)
    parts = report_tables(a.folder, a.design, a.roadmap, a.by)
    if a.format == "csv":
        several = len({df.attrs["roadmap"] for _, df in parts}) > 1
        frames = [df.assign(**({"roadmap": df.attrs["roadmap"]} if several else {}),
                            **df.attrs["by"]) for _, df in parts]
        return emit(to_csv(pd.concat(frames, ignore_index=True)), a.out)
    asked = dict(question_tables(a.folder, a.roadmap, a.by)) if a.design == "path" else {}
    texts = []
    for label, df in parts:
        text = (f"### {label}\n\n" if label else "") + to_markdown(df)
        if a.design == "path":
            from roadmap.present.agreement import agreement
            for regime, rows in df.groupby("regime", sort=False):
                if (rows["paper_top1"].notna() & rows["top1_mean"].notna()).sum() >= 5:  # a rank needs steps
                    prefix = f"{regime}: " if df["regime"].nunique() > 1 else ""
                    text += f"\n{prefix}{agreement(rows).sentence()}\n"
        if label in asked:
            text += "\nQuestions the roadmap file poses, published direction against ours:\n\n" + \
                questions.to_markdown(asked[label])
        texts.append(text)
    return emit("\n".join(texts), a.out)


def _questions(a) -> int:
    import pandas as pd

    from roadmap.errors import RoadmapError
    from roadmap.present import questions
    from roadmap.present.report import question_tables
    if a.design != "path":
        raise RoadmapError("--questions reads the roadmap's own steps; it takes no --design")
    parts = question_tables(a.folder, a.roadmap, a.by)
    if not parts:
        raise RoadmapError(f"no roadmap of {a.folder} poses questions (a 'questions:' list in its roadmap file)")
    if a.format == "csv":
        return emit(questions.to_csv(pd.concat([df.assign(**df.attrs["by"]) for _, df in parts],
                                               ignore_index=True)), a.out)
    return emit("\n".join((f"### {label}\n\n" if label else "") + questions.to_markdown(df)
                          for label, df in parts), a.out)
