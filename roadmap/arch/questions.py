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


def parse_questions(raw, step_ids: list[str], where: str) -> tuple[Question, ...]:
    """The `questions` list of a roadmap file; every step named must be one of the file's own."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise RoadmapError(f"{where}: 'questions' must be a list of {{ask, a, b, published, source}}")
    out = []
    for n, q in enumerate(raw, 1):
        here = f"{where}, question #{n}"
        if not isinstance(q, dict) or not {"ask", "a", "b", "published"} <= set(q):
            raise RoadmapError(f"{here}: a question is a mapping with 'ask', 'a', 'b' and 'published'")
        unknown = set(q) - KEYS
        if unknown:
            raise RoadmapError(f"{here}: unknown key(s) {sorted(unknown)}; allowed: {sorted(KEYS)}")
        a, b = str(q["a"]), str(q["b"])
        for sid in (a, b):
            if sid not in step_ids:
                raise RoadmapError(f"{here}: no step {sid!r}; the steps are {', '.join(step_ids)}")
        if a == b:
            raise RoadmapError(f"{here}: 'a' and 'b' are both {a!r}; a question compares two steps")
        published = str(q["published"])
        if published not in DIRECTIONS:
            raise RoadmapError(f"{here}: published {published!r} is not one of {', '.join(DIRECTIONS)}")
        out.append(Question(ask=str(q["ask"]), a=a, b=b, published=published, source=str(q.get("source", ""))))
    return tuple(out)
