"""The built models against the paper's tables (Table 10, Table 11) and the reference code."""
import pytest
import timm
import torch

import roadmap
from roadmap.arch.complexity import complexity
from roadmap.arch.timm_models import remap

T = roadmap.load("convnext-t")
B = roadmap.load("convnext-b")


def _expected(step):
    return step.paper["gflops"]


@pytest.mark.parametrize("step", T.steps, ids=T.ids)
def test_convnext_t_gflops_match_table_10(step):
    assert round(complexity(step.spec)["gflops"], 2) == _expected(step)


@pytest.mark.parametrize("step", B.steps, ids=B.ids)
def test_convnext_b_gflops_match_table_11(step):
    assert round(complexity(step.spec)["gflops"], 2) == _expected(step)


def test_where_we_differ_from_the_printed_table_it_is_written_down():
    differ = [s for s in T.steps + B.steps if "printed_gflops" in s.paper]
    assert [s.id for s in differ] == ["step6.ln", "step7"]
    for s in differ:
        assert str(s.paper["printed_gflops"]) in s.note and "Figure 2" in s.note
    # Figure 2 (Table 10 rounded to one decimal) agrees with what we compute: BN -> LN 4.2, ConvNeXt-T 4.5
    fig2 = lambda step: round(round(complexity(T.spec(step))["gflops"], 2), 1)  # noqa: E731
    assert fig2("step6.ln") == 4.2 and fig2("step7") == 4.5


@pytest.mark.parametrize("rm,step,params", [
    (T, "step0", 25_557_032), (T, "step7", 28_589_128), (B, "step0", 64_673_832), (B, "step7", 88_591_464),
])
def test_end_points_have_the_published_parameter_counts(rm, step, params):
    assert complexity(rm.spec(step))["params"] == params


@pytest.mark.parametrize("rm,step,timm_name,res", [
    (T, "step0", "resnet50", 64), (T, "step7", "convnext_tiny", 64),
    (B, "step0", "resnet200", 32), (B, "step7", "convnext_base", 32),
])
def test_end_points_are_the_reference_models(rm, step, timm_name, res):
    """step0 is torchvision/timm's ResNet, the last step the published ConvNeXt: a checkpoint of
    theirs loads by position and gives the same outputs."""
    torch.manual_seed(0)
    reference = timm.create_model(timm_name, pretrained=False).eval()
    model = roadmap.build(rm.spec(step), num_classes=1000).eval()
    assert rm.step(step).timm == timm_name
    # the key map timm.create_model("roadmap_...", pretrained=True) loads their weights through
    model.load_state_dict(remap(reference.state_dict(), spec=rm.spec(step), reference=timm_name))
    x = torch.randn(2, 3, res, res)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-4)


def test_kernel_sizes_5_9_11_are_tried_but_not_adopted():
    assert [s.id for s in T.steps if not s.adopted] == ["step5.k5", "step5.k9", "step5.k11"]
    # the roadmap continues from kernel 7
    assert T.step("step6.gelu").parent == "step5.k7"
    assert T.step("step5.k9").parent == "step5.k7"
    assert T.step("step5.k7").parent == "step5.moveup"


def test_the_r200_regime_changes_stage_ratio_and_width_together():
    s = B.spec("step1")
    assert s.depths == (3, 3, 27, 3) and s.widths == (336, 672, 1344, 2688)
    assert B.spec("step3.width").widths == (512, 1024, 2048, 4096)
    assert B.spec("step7").widths == (128, 256, 512, 1024)
