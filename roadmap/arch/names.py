"""The naming rules of roadmaps and their steps, each in one place (no torch, no YAML).

- A design's roadmap is named `NAME[DESIGN]` ("convnext-t[leave-one-out]"); the path is the bare name.
- A stage id ("step5") names its sub-steps' last adopted one ("step5.k7"; the last sub-step if
  none is adopted).
- A step's parent, the step it is measured against, is the last adopted step before it.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

DESIGNS = ("path", "leave-one-out", "add-one")


def with_design(name: str, design: str) -> str:
    return name if design == "path" else f"{name}[{design}]"


def split_design(name: str) -> tuple[str, str]:
    """("convnext-t", "leave-one-out") for "convnext-t[leave-one-out]"; (name, "path") for a bare one."""
    if name.endswith("]") and "[" in name:
        bare, _, design = name[:-1].rpartition("[")
        return bare, design
    return name, "path"


def design_of(name: str) -> str:
    return split_design(name)[1]


def bare_name(name: str) -> str:
    return split_design(name)[0]


def stage_of(step_id: str) -> str:
    """"step5" for "step5.k7"; a step without sub-steps is its own stage."""
    return step_id.partition(".")[0]


def resolve_stage(step_id: str, steps: Sequence[tuple[str, bool]]) -> str | None:
    """The step `step_id` names among (id, adopted) in roadmap order: itself, or for a stage id its
    last adopted sub-step (the last sub-step if none is adopted); None if it names none."""
    ids = [sid for sid, _ in steps]
    if step_id in ids:
        return step_id
    subs = [(sid, adopted) for sid, adopted in steps if sid.startswith(step_id + ".")]
    adopted = [sid for sid, a in subs if a]
    return (adopted or [sid for sid, _ in subs] or [None])[-1]


def parents(steps: Iterable[tuple[str, bool]]) -> dict[str, str | None]:
    """Each step's parent among (id, adopted) in roadmap order: the last adopted step before it."""
    out, last = {}, None
    for sid, adopted in steps:
        out[sid] = last
        if adopted:
            last = sid
    return out
