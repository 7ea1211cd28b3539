"""`roadmap compare A B`: the paired delta, its interval and a verdict for any two arms."""
from __future__ import annotations

import argparse
import sys
import textwrap

from roadmap.arch.names import DESIGNS
from roadmap.cli import emit

EXAMPLES = """examples:
  roadmap compare results/smoke-a results/smoke-b        # every step both folders finished, B - A
  roadmap compare step6.ln step7 --results results/smoke # two steps of one folder
  roadmap compare results/a results/b --format csv -o ab.csv
"""


def register(sub, name: str, help: str):
    s = sub.add_parser(
        name, help=help,
        description=textwrap.fill(
            "Compare B with A paired by seed, as `roadmap report` compares a step with its parent: the mean "
            "of per-seed differences B - A, its 95% paired-t interval, the probability that B beats A, a "
            "verdict (resolved when the interval excludes 0) and the seeds per arm that would resolve the "
            "observed difference with 80% power. A and B are two results folders (every step both "
            "finished), or two step ids of the folder given with --results.", 79),
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("a", help="results folder A, or step A with --results")
    s.add_argument("b", help="results folder B, or step B with --results")
    s.add_argument("--results", metavar="FOLDER", help="compare two steps of this results folder")
    s.add_argument("--design", default="path", choices=DESIGNS,
                   help="which design's rows, when a folder holds several (default: %(default)s)")
    s.add_argument("--roadmap", help="which roadmap's rows, when a folder holds several (default: all, one row "
                                     "per roadmap and step)")
    s.add_argument("--by", metavar="KEY", help="one row per value of a recipe setting the rows were swept or set "
                                               "over, e.g. --by epochs (a grid: --by epochs,lr; two folders: the "
                                               "values both hold)")
    s.add_argument("--format", choices=["md", "csv"], default="md",
                   help="md: a Markdown table; csv: unformatted numbers (default: %(default)s)")
    s.add_argument("-o", "--out", metavar="FILE", help="write to FILE instead of printing")
    s.set_defaults(fn=compare)


def compare(a) -> int:
    from roadmap.present.compare import compare_folders, compare_steps, to_markdown

    df = compare_steps(a.results, a.a, a.b, a.roadmap, a.design, a.by) if a.results else \
        compare_folders(a.a, a.b, a.roadmap, a.design, a.by)
    if df.attrs.get("warning"):
        print(f"roadmap: {df.attrs['warning']}", file=sys.stderr)
    text = to_markdown(df) if a.format == "md" else df.to_csv(index=False, float_format="%.4g")
    return emit(text, a.out)
