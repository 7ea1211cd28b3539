"""The kept counts that let `roadmap steps` list a roadmap without torch are the live counts."""
from __future__ import annotations

import pytest

import roadmap
from roadmap.arch import complexity as cx


def test_every_shipped_spec_has_a_kept_count():
    specs = cx.shipped_specs()
    assert len(specs) >= 100  # the roadmaps and the step-7 split, each in three designs
    missing = [s.name for s in specs if cx._key(s, 1000, 224) not in cx.kept()]
    assert not missing, f"run `python -m roadmap.arch.complexity` to keep counts for {missing[:3]}"


@pytest.mark.long(10)
def test_every_kept_count_equals_the_live_one():
    for s in cx.shipped_specs():
        assert cx.complexity(s) == cx.complexity(s, live=True), s.name  # bit for bit, params and GFLOPs


def test_a_count_not_kept_is_counted_live():
    spec = roadmap.load("convnext-t").spec("step4")
    assert cx._key(spec, 10, 32) not in cx.kept()
    assert cx.complexity(spec, 10, 32) == cx.complexity(spec, 10, 32, live=True)


def test_listing_a_roadmap_imports_no_torch():
    from test_layout import imported_by_command
    text, heavy = imported_by_command(["steps", "--design", "leave-one-out"])
    assert "no-step6.ln" in text, text  # the leave-one-out variants, counted
    assert "torch" not in heavy and "timm" not in heavy, heavy


def test_show_and_recipe_import_no_torch():
    """The listing commands stay quick: importing torch takes ~2 s on 2 cores, timm ~4 s."""
    from test_layout import imported_by_command
    text, heavy = imported_by_command(["show", "step4"])
    assert "spec hash" in text and "changes from step3.width" in text, text
    assert not heavy & {"torch", "timm"}, heavy
    text, heavy = imported_by_command(["recipe", "cpu-proxy"])
    assert "adamw" in text, text
    assert not heavy & {"torch", "timm"}, heavy


def test_the_optimizers_checked_without_timm_are_in_timms_registry():
    from timm.optim import list_optimizers

    from roadmap.train.recipe import TIMM_OPTIMIZERS
    assert set(TIMM_OPTIMIZERS) <= set(list_optimizers())
