"""`roadmap export FOLDER STEP`: a trained variant's weights as safetensors, its spec in the metadata."""
from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

EXAMPLES = """examples:
  roadmap export results/smoke step7                       # -> smoke-step7-seed0.safetensors
  roadmap export results/smoke step5.k9 --seed 2 -o k9.safetensors
  python -c "import roadmap; print(roadmap.load_model('k9.safetensors'))"
"""


def register(sub, name: str, help: str):
    s = sub.add_parser(
        name, help=help,
        description=textwrap.fill(
            "Write the weights a finished row was evaluated with (the EMA's when the recipe keeps one), "
            "fp32, as a safetensors file. Its metadata holds the scaled spec as YAML, the class count and "
            "names, the input size and the row's provenance (top-1, recipe, data fingerprint, commit), so "
            "roadmap.load_model(FILE) rebuilds the network without the results folder.", 79),
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("folder", help="a results folder (from `roadmap run`)")
    s.add_argument("step", help="a step id, e.g. step7 or step5.k9 (a stage id means its adopted sub-step)")
    s.add_argument("--seed", type=int, default=0, help="which seed's weights (default: %(default)s)")
    s.add_argument("--roadmap", metavar="NAME",
                   help="which roadmap's row, when the folder holds several (a roadmap and its ablation designs, say)")
    s.add_argument("-o", "--out", metavar="FILE", help="a .safetensors file (default: FOLDER-STEP-seedN.safetensors)")
    s.set_defaults(fn=export)


def export(a) -> int:
    from roadmap.runs.weights import export as write

    out = a.out or f"{Path(a.folder).resolve().name}-{a.step}-seed{a.seed}.safetensors"
    print(f"wrote {write(a.folder, a.step, out, seed=a.seed, roadmap=a.roadmap)}")
    return 0
