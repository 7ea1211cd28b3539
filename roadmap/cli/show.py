"""`roadmap show STEP`: a step's spec as YAML and what it changed."""
from __future__ import annotations

import difflib

from roadmap.arch.names import DESIGNS
from roadmap.cli import DESIGN_HELP, ROADMAP_HELP


def register(sub, name: str, help: str):
    s = sub.add_parser(
        name, help=help,
        description="Print STEP's spec (YAML), the transforms that made it, and a diff against "
                    "the step it starts from. A stage id (step5) means its adopted sub-step.")
    s.add_argument("step", help="step id, e.g. step0, step5.k7, step7")
    s.add_argument("--roadmap", default="convnext-t", help=ROADMAP_HELP + " (default: %(default)s)")
    s.add_argument("--model", action="store_true", help="also print the torch module")
    s.add_argument("--design", default="path", choices=DESIGNS, help=DESIGN_HELP)
    s.set_defaults(fn=lambda a: show(a.step, a.roadmap, a.model, a.design))


def show(step_id: str, roadmap: str, model: bool = False, design: str = "path") -> int:
    from roadmap.arch.catalog import load

    rm = load(roadmap, design)
    if step_id in rm.skipped:
        print(f"# {rm.name} {step_id}: not built: {rm.skipped[step_id]}")
        return 0
    st = rm.step(step_id)
    print(f"# {rm.name} {st.id}: {st.label}{'' if st.adopted else ' (not adopted)'}  spec hash {st.spec.hash}")
    if st.note:
        print(f"# note: {st.note}")
    print(st.spec.to_yaml().rstrip())
    if st.parent is not None:
        before = rm.spec(st.parent).to_yaml().splitlines()[1:]  # [1:]: the name line
        after = st.spec.to_yaml().splitlines()[1:]
        todo = ", ".join(n + (f"({', '.join(f'{k}={v}' for k, v in a.items())})" if a else "") for n, a in st.transforms)
        print(f"\n# changes from {st.parent} ({todo}):")
        print("\n".join(difflib.unified_diff(before, after, st.parent, st.id, n=1, lineterm="")))
    if model:
        from roadmap.arch.network import build  # torch and timm only when the module is asked for
        print()
        print(build(st.spec))
    return 0
