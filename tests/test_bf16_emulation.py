"""bf16 emulated on a CPU without it: computed as native bf16 computes it, element by element."""
import pytest
import torch

from roadmap.train.precision import cpu_has_bf16


def _conv_and_grads(conv, x, g):
    xa = x.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(xa)
    y.backward(g)
    return y, xa.grad, conv.weight.grad, conv.bias.grad


def _rounded_once(got, want) -> float:
    """The share of elements equal to `want` (float64) rounded once to bf16: 1 but for summation order."""
    return (got.double() == want.bfloat16().double()).double().mean().item()


def test_emulated_bf16_convs_compute_as_native_bf16_does():
    """bf16 operands, sums in fp32, each result rounded to bf16 once: nearly every output and gradient
    element equals float64 on the rounded operands, rounded once (a second rounding, or sums kept in
    bf16, leave 60-72% of them; torch's fallback conv on a CPU without bf16 sums the weight gradient
    sample by sample in bf16, 5x one rounding's error here, 8x at batch 128)."""
    from roadmap.train.bf16_emulation import Bf16Conv2d, emulate_bf16_layers
    torch.manual_seed(0)
    conv = emulate_bf16_layers(torch.nn.Conv2d(16, 32, 3, padding=1)).to(memory_format=torch.channels_last)
    assert type(conv) is Bf16Conv2d
    x = torch.randn(64, 16, 12, 12).contiguous(memory_format=torch.channels_last)
    g = torch.randn(64, 32, 12, 12).bfloat16()
    y, gx, gw, gb = _conv_and_grads(conv, x, g)
    assert y.dtype == torch.bfloat16 and gx.dtype == gw.dtype == gb.dtype == torch.float32
    xr, wr, br = (t.detach().bfloat16().double().requires_grad_() for t in (x, conv.weight, conv.bias))
    yr = torch.nn.functional.conv2d(xr, wr, br, padding=1)
    yr.backward(g.double())
    for got, want in ((y, yr), (gx, xr.grad), (gw, wr.grad), (gb, br.grad)):
        assert _rounded_once(got, want) > 0.99


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])  # transposed: as the token MLPs see tokens
def test_emulated_bf16_linear_layers_compute_as_native_bf16_does(layout):
    """As torch's own bf16 linear computes, which sums in fp32 on every CPU (only slower): on contiguous
    input its result rounded once, on a transposed N-d one the matmul rounded and the bias added in
    bf16 after it."""
    from roadmap.train.bf16_emulation import Bf16Linear, emulate_bf16_layers
    torch.manual_seed(0)
    lin = emulate_bf16_layers(torch.nn.Linear(48, 96))
    plain = torch.nn.Linear(48, 96)
    plain.load_state_dict(lin.state_dict())
    assert type(lin) is Bf16Linear
    x = torch.randn(32, 49, 48) if layout == "contiguous" else torch.randn(32, 48, 49).transpose(1, 2)
    g = torch.randn(32, 49, 96).bfloat16()
    got, want = _conv_and_grads(lin, x, g), _conv_and_grads(plain, x, g)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and (a == b).double().mean().item() > 0.99
    if layout == "contiguous":
        xr, wr, br = (t.detach().bfloat16().double().requires_grad_() for t in (x, lin.weight, lin.bias))
        yr = torch.nn.functional.linear(xr, wr, br)
        yr.backward(g.double())
        for a, b in zip(got, (yr, xr.grad, wr.grad, br.grad)):
            assert _rounded_once(a, b) > 0.99


@pytest.mark.skipif(not cpu_has_bf16(), reason="compares with native bf16 kernels: needs a CPU with avx512_bf16 or AMX")
def test_emulated_layers_agree_with_native_bf16():
    from roadmap.train.bf16_emulation import emulate_bf16_layers
    torch.manual_seed(0)
    for make, shape in ((lambda: torch.nn.Conv2d(16, 32, 3, padding=1), (64, 16, 12, 12)),
                        (lambda: torch.nn.Linear(48, 96), (32, 7, 7, 48))):
        native, emulated = make(), make()
        emulated.load_state_dict(native.state_dict())
        emulate_bf16_layers(emulated)
        x = torch.randn(*shape)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            g = torch.randn_like(native(x).float()).bfloat16()
        for a, b in zip(_conv_and_grads(emulated, x, g), _conv_and_grads(native, x, g)):
            assert (a == b).double().mean().item() > 0.99


@pytest.mark.parametrize("layer", [torch.nn.Conv1d(4, 4, 3), torch.nn.Conv2d(4, 4, 3, padding="same"),
                                   torch.nn.MultiheadAttention(8, 2)])
def test_a_layer_emulation_cannot_compute_natively_is_refused(layer):
    from roadmap.errors import RoadmapError
    from roadmap.train.bf16_emulation import emulate_bf16_layers
    with pytest.raises(RoadmapError, match=r"--emulate-bf16 cannot compute 1 \(\w+\) as native bf16 does"):
        emulate_bf16_layers(torch.nn.Sequential(torch.nn.Identity(), layer))


def test_emulated_layers_refuse_a_second_derivative():
    from roadmap.train.bf16_emulation import emulate_bf16_layers
    conv = emulate_bf16_layers(torch.nn.Conv2d(3, 4, 3))
    x = torch.randn(2, 3, 6, 6, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        gx, = torch.autograd.grad(conv(x).float().square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        gx.sum().backward()


def test_emulated_layers_run_fp32_kernels_even_with_backward_inside_autocast():
    """The trainer calls backward() inside its autocast region: the emulated layers' GEMMs and convs must
    still get fp32 operands (bf16 ones take torch's slow bf16 kernels: 3x slower training)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from roadmap.train.bf16_emulation import emulate_bf16_layers

    class Kernels(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.bf16 = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            heavy = func.overloadpacket in (torch.ops.aten.mm, torch.ops.aten.addmm, torch.ops.aten.bmm,
                                            torch.ops.aten.convolution, torch.ops.aten.convolution_backward)
            if heavy and any(isinstance(a, torch.Tensor) and a.dtype == torch.bfloat16 for a in args):
                self.bf16.append(str(func))
            return func(*args, **(kwargs or {}))

    net = emulate_bf16_layers(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 2, 2), torch.nn.Flatten(1),
                                                  torch.nn.Linear(8 * 4 * 4, 5)))
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    with Kernels() as seen, torch.autocast("cpu", dtype=torch.bfloat16):
        net(x).float().sum().backward()
    assert seen.bf16 == [] and x.grad is not None and net[0].weight.grad is not None
    plain = torch.nn.Linear(4, 4)  # the check can see bf16 kernels: autocast's own linear uses them
    with Kernels() as seen, torch.autocast("cpu", dtype=torch.bfloat16):
        plain(torch.randn(2, 4)).float().sum().backward()
    assert seen.bf16


def test_every_shipped_network_can_be_emulated():
    """Every step of every shipped roadmap holds only layers the emulation computes natively."""
    import roadmap
    from roadmap.arch.network import build
    from roadmap.arch.scale import scale_spec
    from roadmap.shipped import names
    from roadmap.train.bf16_emulation import Bf16Linear, emulate_bf16_layers
    for name in names("roadmap"):
        for step in roadmap.load(name).steps:
            model = emulate_bf16_layers(build(scale_spec(step.spec, 0.25, 0.34), 10, img_size=32))
            assert any(type(m) is Bf16Linear for m in model.modules()), (name, step.id)
