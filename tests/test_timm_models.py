"""Every step as a timm model: the same networks as roadmap.build, timm's pretrained weights mapped in."""
import functools
import subprocess
import sys

import pytest
import timm
import torch

import roadmap
from roadmap import shipped
from roadmap.arch.scale import scale_spec
from roadmap.arch.timm_models import key_map, model_name, register, remap

NAMES = sorted(timm.list_models("roadmap_*"))
SMALL = dict(width_mult=0.125, depth_mult=0.34, stem_stride=2)  # the smallest widths: outputs cost little


@pytest.fixture
def one_thread():
    """Tiny layers run faster on one thread than with two threads' hand-offs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@functools.lru_cache(maxsize=None)
def _steps():
    """(timm name, spec) of every step of every shipped roadmap, stage aliases included."""
    out = {}
    for name in shipped.names("roadmap"):
        rm = roadmap.load(name)
        for s in rm.steps:
            out[model_name(rm.name, s.id)] = s.spec
            out[model_name(rm.name, s.id.split(".")[0])] = rm.step(s.id.split(".")[0]).spec
    return out


def test_importing_roadmap_registers_every_shipped_step_under_its_name():
    assert set(NAMES) == set(_steps())
    assert {"roadmap_convnext_t_step4", "roadmap_convnext_t_step5_k9", "roadmap_isotropic_step2",
            "roadmap_convnext_b_step0"} <= set(NAMES)
    assert _steps()["roadmap_convnext_t_step5"] == roadmap.load("convnext-t").spec("step5.k7")


@pytest.mark.long(5)
def test_registration_survives_every_first_import_of_timm(repo):
    """In fresh interpreters, warnings as errors, started together (each mostly imports torch):
    timm imported by our own builder half-way through importing it; and an availability check
    (importlib.util.find_spec, as libraries do for optional packages) followed by register(), which
    imports timm half-way through our registry module. Either way every shipped step is there."""
    yaml = str(repo / "examples" / "kernel9-width128.yaml")
    codes = [
        "import roadmap, sys; assert 'timm' not in sys.modules; import roadmap.arch.network; import timm; "
        "print(len(timm.list_models('roadmap_*')))",
        f"import importlib.util, roadmap; importlib.util.find_spec('timm'); names = roadmap.register({yaml!r}); "
        "import timm; print(len(timm.list_models('roadmap_*')) - len(names))",
    ]
    procs = [subprocess.Popen([sys.executable, "-W", "error", "-c", c], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for c in codes]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        assert int(out) == len(NAMES)


def test_create_model_builds_our_network_for_every_name(one_thread):
    """Scaled down and seeded: the same modules and the same initial weights, so the same outputs.
    The forward pass itself and the full-size parameters (meta device) are checked for one name per
    roadmap: each costs a second or so on a busy CPU, and the other names would only repeat them."""
    x = torch.randn(2, 3, 16, 16)
    full = {"roadmap_convnext_t_step7", "roadmap_convnext_b_step0", "roadmap_isotropic_step4_patch8"}
    for name in NAMES:
        spec = _steps()[name]
        if name in full:
            with torch.device("meta"):
                ours, theirs = roadmap.build(spec, 1000).state_dict(), timm.create_model(name).state_dict()
            assert [(k, v.shape) for k, v in ours.items()] == [(k, v.shape) for k, v in theirs.items()], name
        small = scale_spec(spec, SMALL["width_mult"], SMALL["depth_mult"], SMALL["stem_stride"])
        torch.manual_seed(0)
        a = roadmap.build(small, 10, drop_path_rate=0.1, img_size=16).eval()
        torch.manual_seed(0)
        b = timm.create_model(name, num_classes=10, drop_path_rate=0.1, img_size=16, **SMALL).eval()
        assert str(a) == str(b), name
        theirs = b.state_dict()
        assert all(torch.equal(v, theirs[k]) for k, v in a.state_dict().items()), name
        if name in full:
            with torch.no_grad():
                assert torch.equal(a(x), b(x)), name
        assert (b.pretrained_cfg["first_conv"], b.pretrained_cfg["classifier"]) == ("stem.conv", "head.fc")
        assert b.get_submodule("stem.conv").in_channels == 3 and b.get_submodule("head.fc").out_features == 10
    assert full <= set(NAMES)


def test_pretrained_weights_load_through_timm_with_a_new_head(tmp_path):
    """timm's own loader (a local file here: nothing is downloaded), remapped: identical features,
    a fresh 10-class head, and pretrained=True on a step without weights fails as timm fails."""
    torch.manual_seed(0)
    reference = timm.create_model("resnet50").eval()
    torch.save(reference.state_dict(), tmp_path / "resnet50.pth")
    file = dict(file=str(tmp_path / "resnet50.pth"))
    ours = timm.create_model("roadmap_convnext_t_step0", pretrained=True, pretrained_cfg_overlay=file).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours(x), reference(x))
    head10 = timm.create_model("roadmap_convnext_t_step0", pretrained=True, num_classes=10, pretrained_cfg_overlay=file)
    assert head10.head.fc.out_features == 10
    body = {k: v for k, v in ours.state_dict().items() if not k.startswith("head.fc")}
    assert all(torch.equal(head10.state_dict()[k], v) for k, v in body.items())
    assert set(timm.list_pretrained("roadmap_*")) >= {"roadmap_convnext_t_step0", "roadmap_convnext_t_step7",
                                                      "roadmap_convnext_b_step7", "roadmap_isotropic_step0"}
    with pytest.raises(RuntimeError, match="No pretrained weights exist for roadmap_convnext_t_step4"):
        timm.create_model("roadmap_convnext_t_step4", pretrained=True)


def test_the_isotropic_key_map_gives_deits_outputs():
    """The ResNet and ConvNeXt end points' maps are checked output for output in test_paper_fidelity."""
    spec = roadmap.load("isotropic").spec("step0")
    torch.manual_seed(0)
    reference = timm.create_model("deit_small_patch16_224", img_size=32).eval()
    model = roadmap.build(spec, 1000, img_size=32).eval()
    model.load_state_dict({key_map(spec, "deit_small_patch16_224")[k]: v for k, v in reference.state_dict().items()})
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-4)
    # ImageNet's 224 px weights into a 32 px model: the position embedding is resampled, as timm does
    with torch.device("meta"):
        at224 = timm.create_model("deit_small_patch16_224").state_dict()
    state = remap(at224, model, spec=spec, reference="deit_small_patch16_224")
    assert state["embed.pos_embed"].shape == model.embed.pos_embed.shape


def test_your_own_roadmap_registers_too(repo):
    names = register(repo / "examples" / "kernel9-width128.yaml")
    assert "roadmap_kernel9_width128_k9" in names and register(repo / "examples" / "kernel9-width128.yaml") == names
    model = timm.create_model(names[-1], num_classes=3, **SMALL)
    assert model.num_classes == 3
