"""The timm model contract on one step of each family: heads, feature taps, training hooks, scripting.

timm's own tests/test_models.py runs against every roadmap model through tests/timm_suite.py (slow);
these check the same contract here, each against an independent reading (forward hooks on the
tapped modules, timm's own optimizer factory and tracers), on networks scaled down to cost little.
"""
import copy

import pytest
import timm
import torch
import torch.nn.functional as F
from timm.models import get_notrace_functions, get_notrace_modules
from timm.optim import create_optimizer_v2, param_groups_layer_decay
from torchvision.models.feature_extraction import create_feature_extractor

import roadmap  # noqa: F401  registers the models

SMALL = dict(width_mult=0.125, depth_mult=0.34, stem_stride=2, img_size=32)
FAMILIES = {  # name: (hierarchical, output_fmt)
    "roadmap_convnext_t_step0": (True, "NCHW"),          # ResNet stages, BN, in-block downsampling
    "roadmap_convnext_t_step7": (True, "NCHW"),          # ConvNeXt stages, LN after pooling, layer scale
    "roadmap_isotropic_step0": (False, "NLC"),           # DeiT: class token, position embedding, attention
    "roadmap_isotropic_step2_pos": (False, "NHWC"),      # MLP-Mixer: a patch grid, token MLPs
    "roadmap_isotropic_step3_convmixer": (False, "NCHW"),  # ConvMixer: BN, a residual and a plain half
    "roadmap_isotropic_step4": (False, "NCHW"),          # isotropic ConvNeXt
}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _model(name, **kwargs):
    torch.manual_seed(0)
    return timm.create_model(name, **{**SMALL, **kwargs}).eval()


def _as_nchw(y, model):
    """A tapped module's output as a feature map, by the network's own layout (the independent reading)."""
    if model.output_fmt == "NCHW":
        return y
    if model.output_fmt == "NLC":  # (B, 1 + H*W, C): drop the class token
        n = int((y.shape[1] - 1) ** 0.5)
        y = y[:, 1:].reshape(y.shape[0], n, n, -1)
    return y.permute(0, 3, 1, 2)


def _hooked(model, x):
    """Every feature_info module's output, captured by forward hooks."""
    out, handles = {}, []
    for i, info in enumerate(model.feature_info):
        def keep(_, __, y, i=i):
            out[i] = y
        handles.append(model.get_submodule(info["module"]).register_forward_hook(keep))
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return [_as_nchw(out[i], model) for i in range(len(model.feature_info))]


@pytest.mark.parametrize("name", FAMILIES)
def test_the_classifier_api(name):
    model, x = _model(name), torch.randn(2, 3, 32, 32)
    hierarchical, fmt = FAMILIES[name]
    assert model.output_fmt == fmt and model.num_features == model.head_hidden_size
    with torch.no_grad():
        logits = model(x)
        features = model.forward_features(x)
        pre = model.forward_head(features, pre_logits=True)
        assert torch.equal(model.get_classifier()(pre), logits)
        assert features.shape[{"NCHW": 1, "NHWC": 3, "NLC": 2}[fmt]] == model.num_features
        assert pre.shape == (2, model.num_features) and logits.shape == (2, 1000)
        model.reset_classifier(0)  # no classifier: forward gives the pooled features
        assert model.num_classes == 0 and torch.equal(model(x), pre)
        model.reset_classifier(5)  # a new classifier keeps the pooling
        assert model(x).shape == (2, 5) and torch.equal(model.forward_head(features, pre_logits=True), pre)

        bare = _model(name, num_classes=0, global_pool="")  # no pooling, no classifier; the same weights:
        bare.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("head.fc")})
        unpooled = bare(x)
        if model.head.norm.__class__ is torch.nn.Identity:
            assert torch.equal(unpooled, features)
        else:  # ConvNeXt's head LN, at every position of the map
            norm = model.head.norm
            by_hand = F.layer_norm(features.permute(0, 2, 3, 1), norm.normalized_shape, norm.weight, norm.bias,
                                   norm.eps).permute(0, 3, 1, 2)
            torch.testing.assert_close(unpooled, by_hand)
    wrong = "max" if fmt != "NCHW" else "token"
    with pytest.raises(ValueError, match="pools with one of"):
        _model(name, global_pool=wrong)


@pytest.mark.parametrize("name", FAMILIES)
def test_feature_taps_are_the_stage_or_block_outputs(name):
    model, x = _model(name), torch.randn(2, 3, 32, 32)
    hierarchical = FAMILIES[name][0]
    hooked = _hooked(model, x)
    assert len(hooked) == (4 if hierarchical else sum(model.spec.depths))
    for tap, info in zip(hooked, model.feature_info):
        assert tap.shape[1:] == (info["num_chs"], 32 // info["reduction"], 32 // info["reduction"])
    with torch.no_grad():
        final, taps = model.forward_intermediates(x)
        assert torch.equal(final, model.forward_features(x))
        assert all(torch.equal(a, b) for a, b in zip(taps, hooked, strict=True))
        assert torch.equal(model.forward_intermediates(x, indices=[1], stop_early=True, intermediates_only=True)[0],
                           hooked[1])

        backbone = _model(name, features_only=True)  # timm's wrapper: stages, or the last three blocks
        maps = backbone(x)
        kept = hooked if hierarchical else hooked[-3:]
        assert all(torch.equal(a, b) for a, b in zip(maps, kept, strict=True))
        assert backbone.feature_info.channels() == [m.shape[1] for m in maps]
        assert backbone.feature_info.reduction() == [32 // m.shape[-1] for m in maps]
        assert torch.equal(_model(name, features_only=True, out_indices=(0,))(x)[0], hooked[0])

        pruned = copy.deepcopy(model)
        take = pruned.prune_intermediate_layers([1], prune_norm=True)
        assert take == [1] and pruned.num_classes == 0
        assert torch.equal(pruned.forward_intermediates(x, indices=take, intermediates_only=True)[0], hooked[1])
        assert torch.equal(_as_nchw(pruned.forward_features(x), pruned), hooked[1])
        assert len(list(pruned.parameters())) < len(list(model.parameters()))


@pytest.mark.parametrize("name", FAMILIES)
def test_training_hooks(name):
    model, x = _model(name, num_classes=10, drop_path_rate=0.0), torch.randn(2, 3, 32, 32)
    grads = []
    for checkpointing in (False, True):
        m = copy.deepcopy(model).train()
        m.set_grad_checkpointing(checkpointing)
        m(x).square().mean().backward()
        grads.append({n: p.grad for n, p in m.named_parameters()})
    assert grads[0].keys() == grads[1].keys() and all(g is not None for g in grads[1].values())
    for n in grads[0]:
        torch.testing.assert_close(grads[1][n], grads[0][n], msg=n)

    # layer-wise lr decay (timm's train.py --layer-decay): stem first, each stage or block, the head last
    groups = param_groups_layer_decay(model, weight_decay=0.05, layer_decay=0.5)
    scale = {n: g["lr_scale"] for g in groups for n, p in model.named_parameters() if any(p is q for q in g["params"])}
    assert len(scale) == len(list(model.parameters()))
    depth = sum(model.spec.depths)  # one layer per block (a stage's downsampling goes with its first block)
    assert scale["stem.conv.weight"] == 0.5 ** (depth + 1) and scale["head.fc.weight"] == 1.0
    assert len(set(scale.values())) == depth + 2

    # no weight decay on the class token and position embedding, as timm's ViT
    decayed = {n for g in create_optimizer_v2(model, "adamw", lr=1e-3, weight_decay=0.05).param_groups
               if g["weight_decay"] > 0 for n, p in model.named_parameters() if any(p is q for q in g["params"])}
    embed = {n for n, _ in model.named_parameters() if n.startswith("embed.")}
    assert model.no_weight_decay() == embed and not decayed & embed
    assert "stem.conv.weight" in decayed


@pytest.mark.parametrize("name", FAMILIES)
def test_torchscript_and_fx_give_the_same_outputs(name):
    model, x = _model(name), torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
        with pytest.warns(FutureWarning, match="deprecated"):  # torch's, for torch.jit.script itself
            scripted = torch.jit.script(model)
        torch.testing.assert_close(scripted(x), expected)
        traced = create_feature_extractor(model, return_nodes={"head.fc": "logits"}, tracer_kwargs=dict(
            leaf_modules=get_notrace_modules(), autowrap_functions=get_notrace_functions()))
        assert torch.equal(traced(x)["logits"], expected)


@pytest.mark.parametrize("name", FAMILIES)
def test_default_cfg_matches_the_full_size_network(name):
    """pool_size is the unpooled map at the default input size; first_conv and classifier are weights."""
    with torch.device("meta"):
        model = timm.create_model(name)
        cfg = model.pretrained_cfg
        features = model.forward_features(torch.empty(1, *cfg["input_size"]))
    grid = {"NCHW": features.shape[2:], "NHWC": features.shape[1:3], "NLC": None}[model.output_fmt]
    assert cfg["pool_size"] == (tuple(grid) if grid is not None else None)
    state = model.state_dict()
    assert f"{cfg['first_conv']}.weight" in state and f"{cfg['classifier']}.weight" in state
    assert model.in_chans == cfg["input_size"][0]

    # timm's factory arguments, and a new classifier on the network's own device and dtype
    wide = timm.create_model(name, device="meta", dtype=torch.float64).eval()
    wide.reset_classifier(2)
    assert {(p.device.type, p.dtype) for p in wide.parameters()} == {("meta", torch.float64)}
    assert not wide.get_classifier().training
    with pytest.raises(TypeError, match="does not take not_a_model_arg"):
        timm.create_model(name, device="meta", not_a_model_arg=1)


def test_a_pretrained_backbone_gives_timms_own_feature_maps(tmp_path):
    """ResNet-50's weights (a local file: nothing is downloaded) into step0 with features_only: the four
    stage maps are timm's resnet50 backbone's, exactly."""
    torch.manual_seed(0)
    reference = timm.create_model("resnet50")
    torch.save(reference.state_dict(), tmp_path / "resnet50.pth")
    file = dict(pretrained_cfg_overlay=dict(file=str(tmp_path / "resnet50.pth")))
    theirs = timm.create_model("resnet50", pretrained=True, features_only=True, out_indices=(1, 2, 3, 4), **file).eval()
    ours = timm.create_model("roadmap_convnext_t_step0", pretrained=True, features_only=True, **file).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(ours(x), theirs(x), strict=True))
