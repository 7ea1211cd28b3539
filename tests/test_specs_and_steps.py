"""Specs are plain data; steps are pure, composable transforms; every step builds and trains."""
from dataclasses import replace

import pytest
import torch

import roadmap
from roadmap.arch.bases import base
from roadmap.arch.scale import scale_spec
from roadmap.errors import RoadmapError
from roadmap.arch.spec import Spec
from roadmap.arch.transforms import TRANSFORMS, NotApplicable

T = roadmap.load("convnext-t")
B = roadmap.load("convnext-b")


def test_public_api():
    rm = roadmap.load("convnext-t")
    assert rm.ids[0] == "step0" and rm.ids[-1] == "step7" and len(rm.ids) == 16
    model = roadmap.build(rm.spec("step7"), num_classes=1000)
    assert isinstance(model, torch.nn.Module)
    assert rm.spec("step5") == rm.spec("step5.k7")  # a stage id is its adopted sub-step


@pytest.mark.parametrize("step", T.steps + B.steps, ids=[f"t-{i}" for i in T.ids] + [f"b-{i}" for i in B.ids])
def test_every_spec_round_trips_through_yaml(step):
    again = Spec.from_yaml(step.spec.to_yaml())
    assert again == step.spec and again.hash == step.spec.hash and again.name == step.spec.name


def test_hash_ignores_the_name_and_follows_the_architecture():
    s = T.spec("step0")
    assert s.replace(name="other").hash == s.hash
    assert T.spec("step1").hash != s.hash
    assert base("resnet50").hash == s.hash
    assert len({st.spec.hash for st in T.steps}) == len(T.steps)  # 16 distinct networks


# each transform and the only Spec fields it may change (everything else must come back equal)
TOUCHES = [
    ("stage_ratio", {"depths": [3, 3, 9, 3]}, {"depths"}),
    ("patchify_stem", {}, {"stem"}),
    ("depthwise", {}, {"block"}),
    ("width", {"base": 96}, {"widths", "stem"}),
    ("invert_bottleneck", {}, {"widths", "block"}),
    ("move_up_spatial", {}, {"block"}),
    ("kernel", {"size": 7}, {"block"}),
    ("activation", {}, {"act"}),
    ("fewer_activations", {}, {"block"}),
    ("fewer_norms", {}, {"block"}),
    ("norm", {}, {"norm"}),
    ("separate_downsampling", {}, {"downsample", "block", "stem", "head_norm", "init"}),
    ("layer_scale", {}, {"block"}),
]


@pytest.mark.parametrize("name,args,allowed", TOUCHES, ids=[t[0] for t in TOUCHES])
def test_a_transform_changes_only_its_own_fields(name, args, allowed):
    s = base("resnet50")
    if name == "move_up_spatial":
        s = TRANSFORMS["depthwise"](s)
    out = TRANSFORMS[name](s, **args)
    before, after = s.to_dict(), out.to_dict()
    changed = {k for k in after if after[k] != before.get(k)} - {"name"}
    assert changed and changed <= allowed, f"{name} changed {sorted(changed)}"


def test_block_transforms_keep_the_blocks_other_fields():
    s = T.spec("step5.k7")
    for name, args in [("kernel", {"size": 9}), ("fewer_activations", {}), ("fewer_norms", {})]:
        out = TRANSFORMS[name](s, **args)
        assert out.block.mid_ratio == s.block.mid_ratio and out.block.layer_scale == s.block.layer_scale
        assert (out.widths, out.depths, out.stem, out.norm, out.act) == (s.widths, s.depths, s.stem, s.norm, s.act)
    assert TRANSFORMS["kernel"](s, size=9).block.act_after_add == s.block.act_after_add


def test_transforms_compose_in_another_order_where_they_commute():
    s = T.spec("step5.moveup")
    a = TRANSFORMS["activation"](TRANSFORMS["kernel"](s, size=9), act="gelu")
    b = TRANSFORMS["kernel"](TRANSFORMS["activation"](s, act="gelu"), size=9)
    assert a == b
    # patchify works on any ResNet depth; depthwise + width on ResNet-101
    r101 = TRANSFORMS["width"](TRANSFORMS["depthwise"](base("resnet101")), base=128)
    assert r101.widths == (512, 1024, 2048, 4096) and r101.depths == (3, 4, 23, 3)


@pytest.mark.parametrize("name,args,spec,why", [
    ("depthwise", {}, lambda: T.spec("step3.depthwise"), "already depthwise"),
    ("invert_bottleneck", {}, lambda: T.spec("step4"), "already an inverted bottleneck"),
    ("move_up_spatial", {}, lambda: T.spec("step5.moveup"), "already the block's first layer"),
    ("fewer_activations", {}, lambda: _without_activations(base("resnet50")), "no activation between"),
    ("separate_downsampling", {}, lambda: T.spec("step7"), "already separate"),
    ("stage_ratio", {"depths": [3, 3, 9]}, lambda: base("resnet50"), "3 stage depths for a 4-stage"),
])
def test_a_transform_that_does_not_apply_says_why(name, args, spec, why):
    with pytest.raises(NotApplicable, match=why):
        TRANSFORMS[name](spec(), **args)


def _without_activations(spec):
    return spec.replace(block=replace(spec.block, ops=tuple(op for op in spec.block.ops if op.kind != "act")))


def _all_steps():
    return [(T, s) for s in T.steps] + [(B, s) for s in B.steps]


@pytest.mark.parametrize("rm,step", _all_steps(), ids=[f"{r.name}-{s.id}" for r, s in _all_steps()])
def test_every_step_trains_forward_and_backward(rm, step):
    """Every layer gets a finite gradient. A claim about structure: ConvNeXt-B's steps run at a
    quarter of their width (their numbers are checked on the meta device in test_paper_fidelity)."""
    torch.manual_seed(0)
    spec = scale_spec(step.spec, width_mult=0.25) if rm is B else step.spec
    model = roadmap.build(spec, num_classes=10, drop_path_rate=0.1)
    x = torch.randn(2, 3, 32, 32)
    out = model(x)
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("step", ["step0", "step2", "step7"])
def test_any_input_divisible_by_the_total_stride_works(step):
    spec = T.spec(step)
    model = roadmap.build(spec, num_classes=3).eval()
    for res in (32, 64, 96):
        assert res % spec.total_stride == 0
        assert model(torch.randn(1, 3, res, res)).shape == (1, 3)


def test_spec_errors_are_one_sentence():
    with pytest.raises(RoadmapError, match="unknown stem field"):
        Spec.from_dict({**base("resnet50").to_dict(), "stem": {"kernal": 7}})
    with pytest.raises(RoadmapError, match="malformed YAML"):
        Spec.from_yaml("name: [unclosed")
    with pytest.raises(RoadmapError, match="norm must be one of"):
        base("resnet50").replace(norm="gn")
