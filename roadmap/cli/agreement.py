"""`roadmap agreement A [B ...]`: how far runs agree with the paper and with each other, with intervals."""
from __future__ import annotations

import argparse
import textwrap

from roadmap.cli import emit

EXAMPLES = """examples:
  roadmap agreement results/cifar10-cpu-proxy results/cifar10-cpu-proxy-30ep
  roadmap agreement results/a results/b --format csv -o measures.csv
  roadmap agreement results/a results/b --format csv --steps -o steps.csv
  roadmap agreement results/budget --by epochs     # one folder trained with --sweep epochs=10,30
"""


def register(sub, name: str, help: str):
    s = sub.add_parser(
        name, help=help,
        description=textwrap.fill(
            "For each results folder, and for the paper (Table 10): the per-step means and the paired "
            "change of each step against the step it starts from, side by side. Then, for each run against "
            "the paper: Spearman rho of the step changes, of the step means, and the share of the paper's "
            "resolved changes that have the paper's sign (and, without interval, how many changes resolved "
            "both here and by the paper's seeds have its sign); for each pair of runs: rho between their step "
            "changes and the change of rho against the paper from the first to the second (a verdict: "
            "agreement rises when that interval excludes 0). Intervals are 95% bootstrap intervals that "
            "resample seeds (one resample for all steps and paired runs) and draw the paper's means from "
            "its mean and std.", 79),
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("folders", nargs="+", metavar="FOLDER", help="results folders, in budget order (smallest first)")
    s.add_argument("--roadmap", default="convnext-t", help="whose rows (default: %(default)s)")
    s.add_argument("--by", metavar="KEY", help="each value of a swept (or set) recipe setting as its own run, "
                                               "e.g. --by epochs on a folder trained with --sweep epochs=10,30 "
                                               "(a grid: --by epochs,lr)")
    s.add_argument("--draws", type=int, default=2000, help="bootstrap draws (default: %(default)s)")
    s.add_argument("--format", choices=["md", "csv"], default="md",
                   help="md: the measures as Markdown; csv: unformatted numbers (default: %(default)s)")
    s.add_argument("--steps", action="store_true", help="with --format csv: the per-step table, not the measures")
    s.add_argument("-o", "--out", metavar="FILE", help="write to FILE instead of printing")
    s.set_defaults(fn=agreement)


def agreement(a) -> int:
    from roadmap.errors import RoadmapError
    from roadmap.present.agreement import agreement_markdown, agreement_tables, runs_of

    if a.draws < 100:
        raise RoadmapError("--draws must be at least 100 for a 95% interval")
    runs = runs_of(a.folders, a.roadmap, a.by)
    if len({r.label for r in runs}) < len(runs):
        raise RoadmapError("two runs have the same name; compare folders of different names or use --by")
    steps, measures = agreement_tables(runs, draws=a.draws)
    if a.format == "md":
        text = agreement_markdown(steps, measures)
    else:
        text = (steps if a.steps else measures).to_csv(index=False, float_format="%.4g")
    return emit(text, a.out)
