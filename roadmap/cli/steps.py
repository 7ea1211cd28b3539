"""`roadmap steps`: every step with params and GFLOPs computed from its built model."""
from __future__ import annotations

import json

from roadmap.cli import ROADMAP_HELP


def register(sub, name: str, help: str):
    s = sub.add_parser(
        name, help=help,
        description="One row per step: id, group, label, adopted, params (M) and GFLOPs computed "
                    "from the built model, next to the paper's top-1 and GFLOPs.")
    s.add_argument("--roadmap", default="convnext-t", help=ROADMAP_HELP + " (default: %(default)s)")
    s.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    s.add_argument("--res", type=int, default=224, help="input resolution for GFLOPs (default: %(default)s)")
    s.add_argument("--num-classes", type=int, default=1000, help="classifier size (default: %(default)s)")
    s.set_defaults(fn=lambda a: print_steps(a.roadmap, a.json, a.res, a.num_classes))


def steps_table(rm, res: int = 224, num_classes: int = 1000):
    """One row per step of a loaded roadmap: what `roadmap steps` prints (a pandas DataFrame)."""
    import pandas as pd

    from roadmap.arch.complexity import complexity

    rows = []
    for st in rm.steps:
        c = complexity(st.spec, num_classes=num_classes, res=res)
        rows.append({
            "id": st.id, "group": st.group or "", "label": st.label, "adopted": st.adopted,
            "params_m": round(c["params"] / 1e6, 2), "gflops": round(c["gflops"], 2),
            "paper_top1": st.paper.get("top1"), "paper_gflops": st.paper.get("printed_gflops", st.paper.get("gflops")),
        })
    return pd.DataFrame(rows)


def print_steps(roadmap: str, as_json: bool, res: int, num_classes: int) -> int:
    from roadmap.arch.steps import load

    rm = load(roadmap)
    df = steps_table(rm, res, num_classes)
    if as_json:
        print(json.dumps(df.to_dict(orient="records"), indent=1))
        return 0
    print(f"{rm.title}  ({rm.path.name}; params and GFLOPs at {res}x{res}, {num_classes} classes, computed)")
    print(df.to_string(index=False, na_rep="-", formatters={"adopted": lambda v: "yes" if v else "no"}))
    return 0
