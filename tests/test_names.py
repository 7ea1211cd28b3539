"""The naming rules of roadmap.arch.names, which every layer reads instead of its own copy."""
from roadmap.arch.names import DESIGNS, parents, resolve_stage, split_design, stage_of, with_design

STEPS = [("step0", True), ("step5.moveup", True), ("step5.k5", False), ("step5.k7", True), ("step5.k9", False),
         ("step6.x", False)]


def test_design_names_round_trip():
    for design in DESIGNS:
        name = with_design("convnext-t", design)
        assert split_design(name) == ("convnext-t", design)
    assert with_design("convnext-t", "path") == "convnext-t" and split_design("a[b]c") == ("a[b]c", "path")


def test_a_stage_names_its_last_adopted_sub_step():
    assert resolve_stage("step5", STEPS) == "step5.k7" and resolve_stage("step5.k9", STEPS) == "step5.k9"
    assert resolve_stage("step6", STEPS) == "step6.x"  # none adopted: the last sub-step
    assert resolve_stage("step7", STEPS) is None and resolve_stage("step", STEPS) is None
    assert stage_of("step5.k7") == "step5" and stage_of("step0") == "step0"


def test_a_parent_is_the_last_adopted_step_before():
    assert parents(STEPS) == {"step0": None, "step5.moveup": "step0", "step5.k5": "step5.moveup",
                              "step5.k7": "step5.moveup", "step5.k9": "step5.k7", "step6.x": "step5.k7"}
