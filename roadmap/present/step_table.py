"""A roadmap's steps as a table: what `roadmap steps` prints, each step's params and GFLOPs computed
from its built model (kept counts: roadmap.arch.complexity) beside the paper's numbers."""
from __future__ import annotations

import pandas as pd

from roadmap.arch.complexity import complexity
from roadmap.present.aggregate import paper_rows


def steps_table(rm, res: int = 224, num_classes: int = 1000):
    """One row per step of a loaded roadmap: what `roadmap steps` prints (a pandas DataFrame)."""
    # the paper's gain over the parent step, and whether Table 10's 3-seed mean ± std resolves it (Welch)
    gains = paper_rows([rm]).set_index("step")
    rows = []
    for st in rm.steps:
        c = complexity(st.spec, num_classes=num_classes, res=res)
        g = gains.loc[st.id]
        rows.append({
            "id": st.id, "group": st.group or "", "label": st.label, "adopted": st.adopted,
            "params_m": round(c["params"] / 1e6, 2), "gflops": round(c["gflops"], 2),
            "paper_top1": st.paper.get("top1", float("nan")),
            "paper_gflops": st.paper.get("printed_gflops", st.paper.get("gflops", float("nan"))),
            "paper_gain": round(g["delta"], 2) if pd.notna(g["delta"]) else float("nan"),
            "resolved": bool(g["resolved"]) if pd.notna(g["delta_low"]) else None,
        })
    return pd.DataFrame(rows)
