"""Ablation designs beyond the paper's single path, derived from any roadmap.

The paper applies its steps in one order, so each bar measures a step *given every step before
it*. Two standard designs ask the question differently:
- leave-one-out: the final model with one adopted step undone, every other step replayed in order;
- add-one: the base model with only that step applied.
A unit is one adopted step with transforms (a step that bundles several transforms stays one
unit); not-adopted branches (kernel 5, 9, 11) are not units. A derived roadmap holds the reference
(the final model, or the base) followed by one variant per unit, each with the reference as its
parent, so the runner, the report and the figures treat it like any roadmap. Variant ids say what
they are, `no-step3.width` and `only-step6.ln` (no leading "-" or "+": a command line would read
them as options). A derived roadmap's name is `NAME[DESIGN]` (`convnext-t[leave-one-out]`), which
`roadmap.load` accepts too.

A variant whose transforms cannot apply (a later step needs the one left out, or a step needs
an earlier one the base lacks) is kept out of the steps and listed in `Roadmap.skipped` with
the reason in one sentence.
"""
from __future__ import annotations

from dataclasses import replace

from roadmap.arch.names import DESIGNS, with_design
from roadmap.arch.spec import Spec
from roadmap.arch.steps import Roadmap, Step, resolve_base
from roadmap.arch.transforms import TRANSFORMS, NotApplicable
from roadmap.errors import RoadmapError



def derive(rm: Roadmap, design: str) -> Roadmap:
    """`rm` itself for "path", else its leave-one-out or add-one roadmap."""
    if design == "path":
        return rm
    if design not in DESIGNS:
        raise RoadmapError(f"unknown design {design!r}; the designs are {', '.join(DESIGNS)}")
    units = [s for s in rm.steps if s.adopted and s.transforms]
    if not units:
        raise RoadmapError(f"roadmap {rm.name!r} has no adopted step with transforms to ablate")
    base = resolve_base(rm.base)[0]
    if design == "leave-one-out":  # against the final model
        ref = replace(units[-1], parent=None, label=f"{units[-1].label} (all steps)")
        todo = [(u, [v for v in units if v is not u]) for u in units]
        prefix, word = "no-", "without"
    else:  # against the base: the roadmap's first step when it changes nothing
        first = rm.steps[0]
        ref = replace(first, parent=None) if not first.transforms else Step(
            id="base", label=rm.base, group=None, transforms=(), adopted=True, paper={}, note="", parent=None,
            spec=base.replace(name=f"{with_design(rm.name, design)}:base"))
        todo = [(u, [u]) for u in units]
        prefix, word = "only-", "only"
    steps, skipped = [ref], {}
    for unit, applied in todo:
        vid = f"{prefix}{unit.id}"
        try:
            spec = _replay(base, applied, unit if design == "leave-one-out" else None)
        except _Skip as e:
            skipped[vid] = str(e)
            continue
        steps.append(Step(
            id=vid, label=f"{word} {unit.label}", group=unit.group, transforms=unit.transforms, adopted=True,
            paper={}, note=unit.note, parent=ref.id,
            spec=spec.replace(name=f"{with_design(rm.name, design)}:{vid}"),
        ))
    return Roadmap(name=with_design(rm.name, design), title=f"{rm.title}, {design}", regime=rm.regime, base=rm.base,
                   reference=rm.reference, steps=steps, path=rm.path, skipped=skipped, paper_data=rm.paper_data)


class _Skip(Exception):
    pass


def _replay(spec: Spec, steps: list[Step], left_out: Step | None) -> Spec:
    for st in steps:
        for name, args in st.transforms:
            try:
                spec = TRANSFORMS[name](spec, **args)
            except (NotApplicable, RoadmapError) as e:
                why = f"without {left_out.id} ({left_out.label}), " if left_out is not None else "on the base, "
                raise _Skip(f"{why}{st.id}'s {name} does not apply: {e}") from None
    return spec
