"""The typed recipe: frozen, one name per knob (the old names still read), enum values that keep
the strings the cache keys were written with, and settings added later that leave old hashes alone."""
import dataclasses
import json

import pytest
import torch

from roadmap import shipped
from roadmap.errors import RoadmapError
from roadmap.train.loop import Pipeline
from roadmap.train.precision import Precision, precision
from roadmap.train.recipe import OPTIONAL, SCHEMA, Recipe, Sched, load_recipe, scale_of


def test_a_recipe_is_frozen_and_typed():
    r = load_recipe("cpu-proxy")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.epochs = 30
    assert isinstance(r, Recipe) and r.sched is Sched.COSINE and r.betas == (0.9, 0.999) and r.scale == (0.35, 1.0)
    assert (r.scaling.width_mult, r.scaling.depth_mult, r.scaling.stem_stride) == (0.25, 0.34, 2)
    assert r.replace(epochs=30).epochs == 30 and r.epochs == 10


def test_the_old_scale_names_still_read_and_print_under_todays(tmp_path):
    old = tmp_path / "old.yaml"
    src = shipped.find("recipe", "smoke").read_text()
    old.write_text(src.replace("width_mult: ", "scale_width: ").replace("depth_mult: ", "scale_depth: "))
    assert "scale_width" in old.read_text()
    assert load_recipe(str(old)).scaling == load_recipe("smoke").scaling
    assert load_recipe(str(old)).hash == load_recipe("smoke").hash
    assert load_recipe("smoke", ["scale_width=0.5"]).scaling.width_mult == 0.5
    assert load_recipe("smoke", ["scale_width=0.5"]).hash == load_recipe("smoke", ["width_mult=0.5"]).hash
    assert set(load_recipe("smoke").as_dict()) == {*SCHEMA, "name"}


def test_run_json_recipes_of_either_spelling_give_one_scale():
    today = load_recipe("cpu-proxy").as_dict()
    before = {("scale_" + k[:-5] if k in ("width_mult", "depth_mult") else k): v for k, v in today.items()}
    assert "scale_width" in before and scale_of(before) == scale_of(today) == load_recipe("cpu-proxy").scaling


def test_enum_values_are_the_strings_the_cache_keys_hold():
    assert [p.value for p in Precision] == ["fp32", "bf16", "bf16 except depthwise"]
    assert [p.value for p in Pipeline] == ["in-memory batched", "per-sample PIL"]
    assert precision(False, torch.device("cpu")) == "fp32" and json.dumps(Pipeline.IN_MEMORY) == '"in-memory batched"'
    with pytest.raises(RoadmapError, match="sched must be one of cosine, tanh"):
        load_recipe("smoke", ["sched=cosin"])


def test_a_later_setting_enters_the_hash_only_away_from_its_default():
    base = load_recipe("smoke")
    assert set(OPTIONAL) <= set(SCHEMA)
    for key, default in OPTIONAL.items():
        assert base.get(key) == default
        assert load_recipe("smoke", [f"{key}={json.dumps(default)}"]).hash == base.hash
    changed = ["decay_norm_bias=true", "mean=[0.5,0.5,0.5]", "std=[0.25,0.25,0.25]"]
    assert load_recipe("smoke", changed[:1]).hash != base.hash
    assert load_recipe("smoke", changed[1:]).hash != base.hash


@pytest.mark.parametrize("sets, message", [
    (["mean=[0.5,0.5,0.5]"], "set mean and std together"),
    (["mean=[0.5,0.5]", "std=[1,1,1]"], "mean must be three numbers"),
    (["aa_impl=torchvision"], "aa_impl torchvision needs aa rand-nN-mM"),
    (["aa_impl=torchvision", "aa=rand-m9-mstd0.5"], "torchvision's RandAugment takes rand-nN-mM"),
    (["aa_impl=torchvision", "aa=rand-n2-m31"], "M from 0 to 30"),
    (["aa_impl=pillow"], "aa_impl must be one of timm, torchvision"),
    (["sched=onecycle"], "the onecycle schedule warms up and ends at 0 by itself"),
])
def test_the_later_settings_are_checked_together(sets, message):
    with pytest.raises(RoadmapError, match=message):
        load_recipe("smoke", sets)



def test_both_spellings_of_a_setting_are_one_sentence(tmp_path):
    both = tmp_path / "both.yaml"
    both.write_text(shipped.find("recipe", "smoke").read_text() + "scale_width: 0.5\n")
    with pytest.raises(RoadmapError, match="scale_width and width_mult are one setting"):
        load_recipe(str(both))


def test_replace_checks_and_canonicalises_as_a_file_does():
    r = load_recipe("smoke")
    assert r.replace(lr=1).lr == 1.0 and r.replace(lr=1).hash == load_recipe("smoke", ["lr=1.0"]).hash
    assert r.replace(sched="tanh").sched is Sched.TANH
    with pytest.raises(RoadmapError, match="lr must be a number above 0"):
        r.replace(lr=-1)


def test_an_old_name_in_set_is_labelled_under_todays(tmp_path):
    from roadmap.runs.runner import RunConfig, study, sweep_studies
    cfg = RunConfig(recipe="smoke", overrides=["scale_width=0.5"], out=str(tmp_path))
    assert study(cfg).overrides == "width_mult=0.5"
    swept = RunConfig(recipe="smoke", sweep=["scale_width=0.25,0.5"], out=str(tmp_path))
    assert [s.sweep for s in sweep_studies(swept)] == ["width_mult=0.25", "width_mult=0.5"]
    with pytest.raises(RoadmapError, match="already set with --set"):
        sweep_studies(RunConfig(recipe="smoke", overrides=["scale_width=0.5"], sweep=["width_mult=0.25,1"],
                                out=str(tmp_path)))
