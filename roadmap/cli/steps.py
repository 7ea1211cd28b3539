"""`roadmap steps`: every step with params and GFLOPs computed from its built model."""
from __future__ import annotations

import json

from roadmap.arch.names import DESIGNS
from roadmap.cli import DESIGN_HELP, ROADMAP_HELP


def register(sub, name: str, help: str):
    s = sub.add_parser(
        name, help=help,
        description="One row per step: id, group, label, adopted, params (M) and GFLOPs computed "
                    "from the built model, next to the paper's top-1 and GFLOPs.")
    s.add_argument("--roadmap", default="convnext-t", help=ROADMAP_HELP + " (default: %(default)s)")
    s.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    s.add_argument("--res", type=int, default=224, help="input resolution for GFLOPs (default: %(default)s)")
    s.add_argument("--num-classes", type=int, default=1000, help="classifier size (default: %(default)s)")
    s.add_argument("--design", default="path", choices=DESIGNS, help=DESIGN_HELP)
    s.set_defaults(fn=lambda a: print_steps(a.roadmap, a.json, a.res, a.num_classes, a.design))


def print_steps(roadmap: str, as_json: bool, res: int, num_classes: int, design: str = "path") -> int:
    from roadmap.arch.catalog import load
    from roadmap.present.step_table import steps_table

    rm = load(roadmap, design)
    df = steps_table(rm, res, num_classes)
    if as_json:  # valid JSON: a missing number is null, not NaN
        records = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
                   for r in df.to_dict(orient="records")]
        print(json.dumps(records, indent=1))
        return 0
    print(f"{rm.title}  ({rm.path.name}; params and GFLOPs at {res}x{res}, {num_classes} classes, computed)")
    shown = df.assign(adopted=df["adopted"].map({True: "yes", False: "no"}),
                      resolved=[("yes" if v else "≈ noise") if v is not None else "-" for v in df["resolved"]])
    print(shown.to_string(index=False, na_rep="-"))
    for vid, why in rm.skipped.items():
        print(f"{vid}: not built: {why}")
    if df["resolved"].notna().any():
        print("paper_gain: top-1 change from the parent step; resolved: whether the paper's 3-seed mean ± std "
              "(Table 10) excludes no change (Welch, 95%)")
    if rm.questions:  # what the file asks of a results folder (`roadmap report FOLDER --questions`)
        print("questions, B against A as published (roadmap report FOLDER --questions reads them):")
        for q in rm.questions:
            print(f"  {q.b} vs {q.a}: {q.ask}; published {q.published}" + (f" ({q.source})" if q.source else ""))
    return 0
