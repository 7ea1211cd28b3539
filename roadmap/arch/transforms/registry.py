"""The registry of transforms: the names a roadmap file's steps may use.

Both families' modules register here (as timm's models register in `_registry.py`), so neither
imports the other and a step of one family applies to the other's specs where it makes sense.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from roadmap.arch.spec import Spec

TRANSFORMS: dict[str, Callable[..., Spec]] = {}


class NotApplicable(Exception):
    """The transform does not apply to this spec; the message says why."""


def transform(fn):
    """Register `fn` under its own name."""
    TRANSFORMS[fn.__name__] = fn
    return fn


def with_ops(spec: Spec, ops) -> Spec:
    """`spec` with its block's ops replaced."""
    return replace(spec, block=replace(spec.block, ops=tuple(ops)))
