"""Roadmap files (steps/*.yaml) -> steps: an ordered list, each step a few transforms of a base spec.

A step starts from the spec of the last *adopted* step before it (kernel 5, 9 and 11 are tried
and not adopted, so the roadmap continues from kernel 7). Every step's spec is resolved when
the file is loaded, so a bad file fails at once with the file and step named.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roadmap import shipped
from roadmap.arch.bases import base as base_spec
from roadmap.arch.names import parents, resolve_stage
from roadmap.arch.questions import Question, parse_questions
from roadmap.arch.spec import Spec
from roadmap.arch.transforms import TRANSFORMS, NotApplicable
from roadmap.errors import RoadmapError

STEP_KEYS = {"id", "group", "label", "transforms", "adopted", "paper", "note", "timm"}
ROADMAP_KEYS = {"name", "title", "regime", "base", "reference", "steps", "note", "paper_data", "questions"}


@dataclass(frozen=True)
class Step:
    id: str
    label: str
    group: str | None
    transforms: tuple[tuple[str, dict], ...]
    adopted: bool
    paper: dict
    note: str
    parent: str | None          # id of the step it starts from
    spec: Spec = field(repr=False)
    timm: str | None = None     # the same network in timm, where it has one (bench baseline, tests)


@dataclass
class Roadmap:
    name: str
    title: str
    regime: str
    base: str
    reference: dict
    steps: list[Step]
    path: Path
    skipped: dict[str, str] = field(default_factory=dict)  # variant id -> why it cannot be built (designs)
    paper_data: str = "ImageNet"  # where the steps' published numbers were measured
    questions: tuple[Question, ...] = ()  # pairs of steps with a published direction (arch.questions)

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.steps]

    def step(self, step_id: str) -> Step:
        """The step called `step_id`; a stage id such as "step5" means its last adopted sub-step."""
        found = resolve_stage(step_id, [(s.id, s.adopted) for s in self.steps])
        if found is None:
            raise RoadmapError(f"roadmap {self.name!r} has no step {step_id!r}; its steps are {', '.join(self.ids)}")
        return next(s for s in self.steps if s.id == found)

    def spec(self, step_id: str) -> Spec:
        return self.step(step_id).spec

    def upto(self, step_id: str) -> list[Step]:
        """Every step from the first through `step_id`, not-adopted sub-steps included."""
        last = self.step(step_id)
        return self.steps[: self.steps.index(last) + 1]


def read(name_or_path: str | Path) -> Roadmap:
    """A roadmap file: a shipped name ("convnext-t") or a path. Designs and `NAME[DESIGN]` names:
    roadmap.arch.catalog.load."""
    path = shipped.find("roadmap", name_or_path)
    return parse(shipped.read_yaml(path), path)


def parse(data: Any, path: Path) -> Roadmap:
    where = str(path)
    if not isinstance(data, dict) or "steps" not in data or "base" not in data:
        raise RoadmapError(f"{where}: a roadmap is a mapping with at least 'base' and 'steps'")
    unknown = set(data) - ROADMAP_KEYS
    if unknown:
        raise RoadmapError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(ROADMAP_KEYS)}")
    try:
        spec, regime = resolve_base(str(data["base"]))
    except RoadmapError as e:
        raise RoadmapError(f"{where}: {e}") from None
    raw_steps = data["steps"]
    if not isinstance(raw_steps, list) or not raw_steps:
        raise RoadmapError(f"{where}: 'steps' must be a non-empty list")
    ids: list[str] = []
    for n, raw in enumerate(raw_steps):
        if not isinstance(raw, dict) or "id" not in raw:
            raise RoadmapError(f"{where}: step #{n + 1} must be a mapping with an 'id'")
        if str(raw["id"]) in ids:
            raise RoadmapError(f"{where}: step id {str(raw['id'])!r} appears more than once")
        ids.append(str(raw["id"]))
    parent_of = parents([(sid, bool(raw.get("adopted", True))) for sid, raw in zip(ids, raw_steps)])
    built: dict[str, Step] = {}
    for sid, raw in zip(ids, raw_steps):
        here = f"{where}, step {sid}"
        unknown = set(raw) - STEP_KEYS
        if unknown:
            raise RoadmapError(f"{here}: unknown key(s) {sorted(unknown)}; allowed: {sorted(STEP_KEYS)}")
        transforms = _transforms(raw.get("transforms") or [], here)
        parent = parent_of[sid]
        start = built[parent].spec if parent else spec
        out = start.replace(name=f"{data.get('name', path.stem)}:{sid}")  # errors name this step's spec
        for name, args in transforms:
            out = _apply(out, name, args, here)
        built[sid] = Step(
            id=sid, label=str(raw.get("label", sid)), group=raw.get("group"), transforms=transforms,
            adopted=bool(raw.get("adopted", True)), paper=dict(raw.get("paper") or {}),
            note=str(raw.get("note", "")).strip(), parent=parent,
            spec=out.replace(name=f"{data.get('name', path.stem)}:{sid}"), timm=raw.get("timm"),
        )
    steps = list(built.values())
    return Roadmap(
        name=str(data.get("name", path.stem)), title=str(data.get("title", path.stem)),
        regime=str(data.get("regime", regime)), base=data["base"],
        reference=dict(data.get("reference") or {}), steps=steps, path=path,
        paper_data=str(data.get("paper_data", "ImageNet")),
        questions=parse_questions(data.get("questions"), [(s.id, s.adopted) for s in steps], where),
    )


def resolve_base(name: str) -> tuple[Spec, str]:
    """A roadmap's starting spec and default regime: a named seed architecture ("resnet50"), or a step
    of another roadmap ("convnext-t:step6.ln"), whose regime (drop path) it keeps."""
    if ":" not in name:
        return base_spec(name), name
    other, _, sid = name.partition(":")
    rm = read(other)
    if sid not in rm.ids:
        raise RoadmapError(f"base {name!r}: roadmap {rm.name} has no step {sid!r}; it has {', '.join(rm.ids)}")
    return rm.spec(sid), rm.regime


def _transforms(raw, here) -> tuple[tuple[str, dict], ...]:
    if not isinstance(raw, list):
        raise RoadmapError(f"{here}: 'transforms' must be a list of {{name: {{arg: value}}}}")
    out = []
    for t in raw:
        if isinstance(t, str):
            name, args = t, {}
        elif isinstance(t, dict) and len(t) == 1:
            (name, args), = t.items()
            args = args or {}
        else:
            raise RoadmapError(f"{here}: each transform is a name or {{name: {{arg: value}}}}, not {t!r}")
        if name not in TRANSFORMS:
            raise RoadmapError(f"{here}: unknown transform {name!r}; known: {', '.join(sorted(TRANSFORMS))}")
        if not isinstance(args, dict):
            raise RoadmapError(f"{here}: the arguments of {name} must be a mapping, not {args!r}")
        out.append((name, dict(args)))
    return tuple(out)


def _apply(spec: Spec, name: str, args: dict, here: str) -> Spec:
    try:
        return TRANSFORMS[name](spec, **args)
    except NotApplicable as e:
        raise RoadmapError(f"{here}: {name} does not apply: {e}") from None
    except RoadmapError as e:
        raise RoadmapError(f"{here}: {name} gives an invalid network: {e}") from None
    except TypeError as e:
        raise RoadmapError(f"{here}: {name}: bad arguments {args} ({e})") from None
