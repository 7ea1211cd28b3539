"""`roadmap plot`: Figure 2 from the paper's numbers (--paper) or from a results folder (--results)."""
from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from roadmap.arch.names import DESIGNS

EXAMPLES = """examples:
  roadmap plot --paper                          # -> plots/paper.png
  roadmap plot --paper -o paper.pdf             # png, svg or pdf, from the suffix
  roadmap plot --results results/smoke          # -> plots/smoke.png
  roadmap plot --results results/smoke -o smoke.svg
  roadmap plot --curves results/smoke           # -> plots/smoke-curves.png
  roadmap plot --curves results/smoke --only step0 step7 -o curves.pdf
  roadmap plot --agreement results/cifar10-cpu-proxy results/cifar10-cpu-proxy-30ep
"""


def register(sub, name: str, help: str):
    s = sub.add_parser(
        name, help=help,
        description=textwrap.fill(
            "Draw the roadmap as the paper's Figure 2: one horizontal bar per step, grouped, not-adopted "
            "steps hatched. --paper uses the numbers carried in the roadmap files (ResNet-50 -> ConvNeXt-T "
            "in colour, ResNet-200 -> ConvNeXt-B in gray, Swin-T/B as references). --results draws a run: "
            "mean top-1 per step with seed spread, the change from the previous adopted step, the "
            "paper's value beside it; steps not run or failed are shown as such. --curves draws a run's "
            "epochs.csv: train loss, val loss and top-1 per epoch, one line per step (mean over seeds, band "
            "from the lowest to the highest seed). --agreement draws each step's change in several runs beside "
            "the paper's.", 79),
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = s.add_mutually_exclusive_group(required=True)
    what.add_argument("--paper", action="store_true", help="the paper's Figure 2 (Tables 10 and 11)")
    what.add_argument("--results", metavar="FOLDER", help="a results folder with results.csv (from `roadmap run`)")
    what.add_argument("--curves", metavar="FOLDER", help="a results folder's training curves, from its epochs.csv")
    what.add_argument("--agreement", metavar="FOLDER", nargs="+",
                      help="results folders (smallest budget first): each step's change per run with its interval, "
                           "the paper's beside them (the numbers: roadmap agreement)")
    s.add_argument("-o", "--out", metavar="FILE",
                   help="output file, .png, .svg or .pdf (default: plots/paper.png, plots/FOLDER-NAME.png, or "
                        "plots/FOLDER-NAME-curves.png)")
    s.add_argument("--only", metavar="STEP", nargs="+", help="with --curves: just these steps")
    s.add_argument("--roadmap", help="with --results or --curves: only this roadmap's rows, when the folder "
                                     "holds several; with --agreement: whose rows (default: convnext-t)")
    s.add_argument("--by", metavar="KEY", help="a swept (or set) recipe setting, e.g. --by epochs (a grid: --by epochs,lr): with "
                                               "--results one figure per value (a forest each, with --design), "
                                               "with --agreement each value as its own run")
    s.add_argument("--dpi", type=int, default=170, help="resolution of a .png (default: %(default)s)")
    s.add_argument("--design", default="path", choices=DESIGNS,
                   help="with --results: path draws Figure 2's bars; leave-one-out and add-one a forest plot of "
                        "each step's delta against the design's reference, the path's delta beside it "
                        "(default: %(default)s)")
    s.set_defaults(fn=plot)


def plot(a) -> int:
    from roadmap.present.figure import draw_paper  # matplotlib is loaded only when plotting
    if a.paper:
        path = draw_paper(a.out or "plots/paper.png", dpi=a.dpi)
    elif a.curves:
        from roadmap.present.curves import draw_curves
        path = draw_curves(a.curves, a.out, dpi=a.dpi, design=a.design, steps=a.only, roadmap=a.roadmap)
    elif a.agreement:
        from roadmap.present.agreement import agreement_tables, runs_of
        from roadmap.present.agreement_figure import draw_agreement
        steps, measures = agreement_tables(runs_of(a.agreement, a.roadmap or "convnext-t", a.by))
        path = draw_agreement(steps, measures, a.out or Path("plots") / f"{Path(a.agreement[-1]).resolve().name}"
                                                          "-agreement.png", dpi=a.dpi)
    elif a.design != "path":
        from roadmap.present.forest import draw_forests
        for written in draw_forests(a.results, a.design, a.out, dpi=a.dpi, by=a.by):
            print(f"wrote {written}")
        return 0
    else:
        from roadmap.present.figure import draw_results_figures
        for written in draw_results_figures(a.results, a.out, dpi=a.dpi, roadmap=a.roadmap, by=a.by):
            print(f"wrote {written}")
        return 0
    print(f"wrote {path}")
    return 0
