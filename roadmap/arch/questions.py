"""A roadmap file's questions: pairs of its steps, each with the direction a published result
gives for B against A, written down before any row is trained, so that the reading of a results
table against the literature is mechanical (roadmap.present.questions).

    questions:
      - ask: attention -> MLP over patches
        a: step0
        b: step1
        published: lower      # B below A: higher | lower | level | none
        source: feed-forward-only ViT tiny 61.4 vs DeiT-Ti 72.2 (ImageNet)
"""
from __future__ import annotations

from dataclasses import dataclass

from roadmap.arch.names import resolve_stage
from roadmap.errors import RoadmapError

# higher / lower: a sign to keep or contradict; level: the two published as equal, which has no
# sign to keep; none: nothing published for this pair, the change is only reported
DIRECTIONS = ("higher", "lower", "level", "none")
KEYS = {"ask", "a", "b", "published", "source"}


@dataclass(frozen=True)
class Question:
    ask: str
    a: str           # the step compared against
    b: str           # the step whose change is read: B - A
    published: str   # one of DIRECTIONS
    source: str = ""


def parse_questions(raw, steps: list[tuple[str, bool]], where: str) -> tuple[Question, ...]:
    """The `questions` list of a roadmap file, whose steps are (id, adopted) in order. A step is
    named by its id, or a stage id ("step5") for its last adopted sub-step, as everywhere."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise RoadmapError(f"{where}: 'questions' must be a list of {{ask, a, b, published, source}}")
    ids = [sid for sid, _ in steps]
    out: list[Question] = []
    for n, q in enumerate(raw, 1):
        here = f"{where}, question #{n}"
        if not isinstance(q, dict) or any(q.get(k) is None for k in ("ask", "a", "b", "published")):
            raise RoadmapError(f"{here}: a question is a mapping with 'ask', 'a', 'b' and 'published', each given")
        unknown = set(q) - KEYS
        if unknown:
            raise RoadmapError(f"{here}: unknown key(s) {sorted(unknown)}; allowed: {sorted(KEYS)}")
        a, b = (_step(str(q[k]), steps, ids, here) for k in ("a", "b"))
        if a == b:
            raise RoadmapError(f"{here}: 'a' and 'b' are both {a!r}; a question compares two steps")
        published = str(q["published"])
        if published not in DIRECTIONS:
            raise RoadmapError(f"{here}: published {published!r} is not one of {', '.join(DIRECTIONS)}")
        twice = next((m for m, o in enumerate(out, 1) if {o.a, o.b} == {a, b}), None)
        if twice:
            raise RoadmapError(f"{here}: question #{twice} already compares {a} and {b}")
        # one line each: a question is a table row
        out.append(Question(ask=" ".join(str(q["ask"]).split()), a=a, b=b, published=published,
                            source=" ".join(str(q.get("source") or "").split())))
    return tuple(out)


def _step(name: str, steps: list[tuple[str, bool]], ids: list[str], here: str) -> str:
    found = resolve_stage(name, steps)
    if found is None:
        raise RoadmapError(f"{here}: no step {name!r}; the steps are {', '.join(ids)}")
    return found
