"""The other seed architectures (ViT/DeiT, feed-forward-only ViT, MLP-Mixer, ConvMixer, isotropic
ConvNeXt) in the same spec language: against timm and the published tables, the DeiT-S ->
isotropic ConvNeXt-S roadmap, and steps of one family applied to another."""
import functools
import textwrap
from decimal import ROUND_HALF_UP, Decimal

import pytest
import timm
import torch

import roadmap
from roadmap.arch.bases import base
from roadmap.cli import main
from roadmap.present.step_table import steps_table
from roadmap.arch.complexity import complexity
from roadmap.errors import RoadmapError
from roadmap.arch.spec import Spec
from roadmap.arch.transforms import TRANSFORMS, NotApplicable

# name: (params in M, GFLOPs at 224 as published: "~lo-hi" is a range, each bound to its printed
# precision), the timm model with the same architecture or None. Reference table "The other seed
# architectures" (DeiT, Melas-Kyriazi 2021, MLP-Mixer, ConvMixer, ConvNeXt's isotropic models).
PUBLISHED = {
    "deit_s": ("22.1", "4.6", "deit_small_patch16_224"),
    "deit_b": ("86.6", "17.6", "deit_base_patch16_224"),
    "ffvit_tiny": ("7.7", "~1.4", None),
    "ffvit_base": ("62", "~14.1", None),
    "ffvit_large": ("206", "~10.7", None),
    "mixer_b16": ("59.9", "12.6", "mixer_b16_224"),
    "mixer_l16": ("208", "44.6", "mixer_l16_224"),
    "convmixer_1536_20": ("51.6", "~48.7-51", "convmixer_1536_20"),
    "convmixer_768_32": ("21.1", "~19.6-20.7", "convmixer_768_32"),
    "convmixer_1024_20": ("24.4", "~5.6-6.0", "convmixer_1024_20_ks9_p14"),
    "convnext_iso_s": ("22", "4.3", None),
    "convnext_iso_b": ("87", "16.9", None),
    "convnext_iso_l": ("306", "59.7", None),
}
# trained a step at small size; base size run forward only; the large ones (Mixer-L, FF-ViT-L,
# ConvMixer-1536/20, isotropic ConvNeXt-L) are only counted, on the meta device
SMALL = ["deit_s", "ffvit_tiny", "convmixer_768_32", "convmixer_1024_20", "convnext_iso_s"]
BASE_SIZE = ["deit_b", "ffvit_base", "mixer_b16", "convnext_iso_b"]
RM = roadmap.load("isotropic")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # these models see a few tokens each: one thread is faster, and immune to a busy machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def _complexity(name):
    return complexity(base(name))


def _printed(x: float, text: str) -> Decimal:
    """`x` as a table prints it to the precision of `text`: two decimals first, then half-up (the
    way Figure 2 rounds Table 10), so 44.548 prints as 44.6."""
    places = Decimal(1).scaleb(-len(text.partition(".")[2]))
    return Decimal(f"{x:.2f}").quantize(places, rounding=ROUND_HALF_UP)


def _matches(x: float, published: str) -> bool:
    if "-" in published:
        lo, hi = published.strip("~").split("-")
        return Decimal(lo) <= _printed(x, lo) and _printed(x, hi) <= Decimal(hi)
    return _printed(x, published.strip("~")) == Decimal(published.strip("~"))


@pytest.mark.parametrize("name", PUBLISHED)
def test_parameters_and_gflops_are_the_published_ones(name):
    params, gflops, _ = PUBLISHED[name]
    c = _complexity(name)
    assert _matches(c["params"] / 1e6, params), c["params"]
    assert _matches(c["gflops"], gflops), c["gflops"]


@pytest.mark.parametrize("name", [n for n, p in PUBLISHED.items() if p[2]])
def test_parameter_counts_are_timms_exactly(name):
    with torch.device("meta"):
        reference = timm.create_model(PUBLISHED[name][2], pretrained=False)
    assert _complexity(name)["params"] == sum(p.numel() for p in reference.parameters())


def test_deit_s_is_vit_s16_and_attention_matmuls_are_counted():
    with torch.device("meta"):
        vit_s = timm.create_model("vit_small_patch16_224", pretrained=False)
    assert _complexity("deit_s")["params"] == sum(p.numel() for p in vit_s.parameters())
    # q k^T and attn v are 0.36 of DeiT-S's 4.6 GFLOPs; without them it would print 4.2
    assert round(_complexity("deit_s")["gflops"], 2) == 4.60


@pytest.mark.parametrize("name,res", [("deit_s", 32), ("mixer_b16", 32), ("convmixer_1024_20", 28)])
def test_timm_checkpoints_load_by_position_and_give_the_same_outputs(name, res):
    torch.manual_seed(0)
    model = roadmap.build(base(name), num_classes=1000, img_size=res).eval()
    kw = {} if name.startswith("convmixer") else {"img_size": res}
    with torch.device("meta"):
        reference = timm.create_model(PUBLISHED[name][2], pretrained=False, **kw)
    ours, theirs = model.state_dict(), reference.state_dict()
    assert len(ours) == len(theirs)
    for (k, v), (rk, rv) in zip(ours.items(), theirs.items()):
        assert v.shape == rv.shape, f"{k} {tuple(v.shape)} vs {rk} {tuple(rv.shape)}"
    reference.load_state_dict(dict(zip(theirs.keys(), ours.values())), assign=True)
    reference.eval()
    x = torch.randn(2, 3, res, res)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-4)


def _apply(spec, *steps):
    for name, args in steps:
        spec = TRANSFORMS[name](spec, **args)
    return spec


def test_the_published_models_are_deit_b_changed_step_by_step():
    """From DeiT-B, the roadmap's steps reach the published feed-forward-only ViT, MLP-Mixer and
    isotropic ConvNeXt at base size, and ConvMixer-1536/20, exactly."""
    ffvit = _apply(base("deit_b"), ("feedforward_only", {}))
    assert ffvit == base("ffvit_base")
    mixer = _apply(ffvit, ("mixer_block", {"hidden": 384}), ("global_pool", {}), ("no_pos_embed", {}))
    assert mixer == base("mixer_b16")
    convnext = _apply(mixer, ("token_mixer", {"kind": "dwconv", "kernel": 7}), ("convnext_block", {}),
                      ("norm_after_pool", {}), ("stage_ratio", {"depths": [18]}))
    assert convnext == base("convnext_iso_b")
    convmixer = _apply(convnext, ("convmixer_block", {}), ("patchify_stem", {"patch": 7}), ("kernel", {"size": 9}),
                       ("width", {"base": 1536}), ("stage_ratio", {"depths": [20]}))
    assert convmixer == base("convmixer_1536_20")


def _step_ids(rm):
    return [s.id for s in rm.steps]


def test_roadmap_rows_carry_computed_and_published_numbers():
    table = steps_table(RM).set_index("id")
    assert list(table.index) == _step_ids(RM)
    assert (table["params_m"] > 0).all() and (table["gflops"] > 0).all()
    published = {s.id: s.paper for s in RM.steps if s.paper}
    assert list(published) == ["step0", "step4.depth"]  # DeiT-S and isotropic ConvNeXt-S
    for sid, paper in published.items():
        assert _matches(complexity(RM.spec(sid))["gflops"], str(paper["gflops"]))
    # where the step's kind of model was published only at another size, the note says so
    for sid in ("step1", "step2.pos", "step3.convmixer"):
        assert "top1" not in RM.step(sid).paper and "Published only for other sizes" in RM.step(sid).note


def test_the_roadmap_ends_at_isotropic_convnext_s_and_starts_at_deit_s():
    assert RM.spec("step0") == base("deit_s")
    assert RM.spec("step4") == RM.spec("step4.depth") == base("convnext_iso_s")
    assert [s.id for s in RM.steps if not s.adopted] == ["step3.convmixer", "step4.patch8"]
    assert RM.step("step3.convnext").parent == "step3.dwconv"


def test_cli_steps_prints_every_isotropic_row(capsys):
    assert main(["steps", "--roadmap", "isotropic"]) == 0
    out = capsys.readouterr().out
    for sid in _step_ids(RM):
        assert sid in out
    assert "22.05" in out and "4.60" in out and "22.31" in out and "4.29" in out
    assert "  step1 vs step0: attention -> MLP over patches; published lower (feed-forward-only ViT" in out


@pytest.mark.parametrize("step", RM.steps, ids=_step_ids(RM))
def test_every_isotropic_step_trains_forward_and_backward(step):
    torch.manual_seed(0)
    model = roadmap.build(step.spec, num_classes=10, drop_path_rate=0.1, img_size=32)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", SMALL + BASE_SIZE)
def test_bases_run_at_small_resolution(name):
    res = 28 if name.startswith("convmixer") else 32  # patches of 7 and 14
    model = roadmap.build(base(name), num_classes=10, img_size=res)
    out = model(torch.randn(2, 3, res, res))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    if name in SMALL:
        out.sum().backward()


def test_specs_round_trip_and_earlier_specs_keep_their_yaml_and_hash():
    for spec in [base(n) for n in PUBLISHED] + [s.spec for s in RM.steps]:
        again = Spec.from_yaml(spec.to_yaml())
        assert again == spec and again.hash == spec.hash
    # fields added for isotropic networks appear only when set
    r50 = base("resnet50").to_dict()
    assert not {"cls_token", "pos_embed", "head_pool", "final_norm"} & set(r50)
    assert "act_first" not in r50["stem"]
    assert base("resnet50").hash == "97f9787946bd"


def test_position_embedding_and_token_mlps_fix_the_input_size_attention_does_not():
    with pytest.raises(RoadmapError, match="built for 224x224 inputs"):
        roadmap.build(base("deit_s"), num_classes=10)(torch.randn(1, 3, 32, 32))
    pooled = _apply(base("deit_s"), ("global_pool", {}), ("no_pos_embed", {}))
    model = roadmap.build(pooled, num_classes=10)
    assert model(torch.randn(1, 3, 32, 32)).shape == model(torch.randn(1, 3, 48, 48)).shape == (1, 10)


# --- one family's steps on another's networks ------------------------------------------------
def _write(tmp_path, text):
    p = tmp_path / "mixed.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_a_mixed_roadmap_applies_convnext_steps_to_a_vit_and_token_mixing_to_a_resnet(tmp_path):
    rm = roadmap.load(_write(tmp_path, """
        base: deit_s
        steps:
          - {id: vit}
          - {id: patch8, transforms: [{patchify_stem: {patch: 8}}]}
          - {id: gamma, transforms: [{layer_scale: {init: 1.0e-5}}]}
          - {id: pool, transforms: [global_pool]}
          - {id: dw, transforms: [{token_mixer: {kind: dwconv, kernel: 7}}]}
          - {id: k9, transforms: [{kernel: {size: 9}}, {activation: {act: relu}}]}
    """))
    assert rm.spec("patch8").stem.kernel == rm.spec("patch8").stem.stride == 8
    assert [op.kind for op in rm.spec("dw").block.ops][:2] == ["norm", "dwconv"]
    assert rm.spec("dw").pos_embed  # a ViT with depthwise-conv token mixing keeps its position embedding
    assert rm.spec("k9").block.ops[1].kernel == 9
    for step in rm.steps:  # shapes only: the meta device builds DeiT-S sizes without their weights
        with torch.device("meta"):
            model = roadmap.build(step.spec, num_classes=10, img_size=32)
            assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    # "token mixing by a depthwise conv" on ResNet-50 is its depthwise step with a 7x7 kernel
    r50 = base("resnet50")
    assert _apply(r50, ("token_mixer", {"kind": "dwconv", "kernel": 7})) == \
        _apply(r50, ("depthwise", {}), ("kernel", {"size": 7}))
    # and attention can mix the tokens of an isotropic ConvNeXt
    assert _apply(base("convnext_iso_s"), ("token_mixer", {"kind": "attn"})).block.ops[0].heads == 6


@pytest.mark.parametrize("text,message", [
    ("base: deit_s\nsteps:\n  - {id: dw, transforms: [{token_mixer: {kind: dwconv}}]}\n",
     "step dw: token_mixer does not apply: a depthwise conv works on the patch grid, where the class token "
     "has no place; apply global_pool first"),
    ("base: resnet50\nsteps:\n  - {id: ff, transforms: [feedforward_only]}\n",
     "step ff: feedforward_only does not apply: feedforward_only is for isotropic"),
    ("base: resnet50\nsteps:\n  - {id: a, transforms: [{token_mixer: {kind: attn}}]}\n",
     "step a: token_mixer does not apply: attn token mixing is for isotropic"),
    ("base: deit_s\nsteps:\n  - {id: bn, transforms: [{norm: {kind: bn}}]}\n",
     "step bn: norm gives an invalid network: .*needs norm 'ln'"),
    ("base: convnext_iso_s\nsteps:\n  - {id: sd, transforms: [separate_downsampling]}\n",
     "step sd: separate_downsampling does not apply: a single-stage"),
    ("base: deit_s\nsteps:\n  - {id: k, transforms: [{token_mixer: {kind: conv}}]}\n",
     "step k: token_mixer: bad arguments"),
])
def test_a_step_that_does_not_fit_the_family_names_file_step_and_reason(tmp_path, text, message):
    p = _write(tmp_path, text)
    with pytest.raises(RoadmapError, match=message) as e:
        roadmap.load(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("name,args,spec,why", [
    ("global_pool", {}, "mixer_b16", "there is no class token"),
    ("no_pos_embed", {}, "mixer_b16", "there is no position embedding"),
    ("feedforward_only", {}, "mixer_b16", "no attention to replace"),
    ("mixer_block", {}, "mixer_b16", "already a Mixer block"),
    ("mixer_block", {}, "deit_s", "no token MLP"),
    ("convnext_block", {}, "convnext_iso_s", "already one residual branch"),
    ("convnext_block", {}, "deit_s", "needs a sub-layer norm -> depthwise conv"),
    ("convmixer_block", {}, "convmixer_768_32", "already a ConvMixer block"),
    ("token_mixer", {"kind": "token_mlp", "hidden": 384}, "mixer_b16", "already mixes tokens by token_mlp"),
    ("norm_after_pool", {}, "convnext_iso_s", "no norm before pooling"),
    ("invert_bottleneck", {}, "deit_s", "already an inverted bottleneck"),
])
def test_isotropic_transforms_say_why_they_do_not_apply(name, args, spec, why):
    with pytest.raises(NotApplicable, match=why):
        TRANSFORMS[name](base(spec), **args)


def test_isotropic_transforms_are_pure():
    for spec_name, name, args in [("deit_s", "feedforward_only", {}), ("ffvit_tiny", "mixer_block", {}),
                                  ("deit_s", "global_pool", {}), ("mixer_b16", "token_mixer", {"kind": "dwconv"}),
                                  ("convnext_iso_s", "convmixer_block", {})]:
        s = base(spec_name)
        before = s.to_dict()
        assert TRANSFORMS[name](s, **args) != s and s.to_dict() == before


def test_convmixer_256_8_is_the_authors_cifar10_network():
    """locuslab/convmixer-cifar10's ConvMixer(256, 8, kernel_size=5, patch_size=2), written out as its
    train.py builds it: the same parameters in the same order, the same initial weights from the same
    seed, and loaded by position the same outputs."""
    from torch import nn

    class Residual(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, x):
            return self.fn(x) + x

    dim, depth, k, p = 256, 8, 5, 2
    torch.manual_seed(0)
    theirs = nn.Sequential(
        nn.Conv2d(3, dim, kernel_size=p, stride=p), nn.GELU(), nn.BatchNorm2d(dim),
        *[nn.Sequential(Residual(nn.Sequential(nn.Conv2d(dim, dim, k, groups=dim, padding="same"), nn.GELU(),
                                               nn.BatchNorm2d(dim))),
                        nn.Conv2d(dim, dim, kernel_size=1), nn.GELU(), nn.BatchNorm2d(dim)) for _ in range(depth)],
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(dim, 10)).eval()
    torch.manual_seed(0)
    ours = roadmap.build(base("convmixer_256_8"), num_classes=10).eval()
    a, b = theirs.state_dict(), ours.state_dict()
    assert [v.shape for v in a.values()] == [v.shape for v in b.values()]
    # the script keeps PyTorch's default init: the same seed gives the same initial weights
    assert all(torch.equal(u, v) for u, v in zip(a.values(), b.values()))
    assert sum(p.numel() for p in ours.parameters()) == 594186
    torch.manual_seed(0)
    for v in a.values():
        if v.dtype.is_floating_point:
            v.copy_(torch.randn_like(v) * 0.1 + (1.0 if v.ndim == 1 else 0.0))
    ours.load_state_dict(dict(zip(b, a.values())))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-5)
