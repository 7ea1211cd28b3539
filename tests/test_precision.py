"""Which precision a device trains in: bf16 where it is native, and the values the rows record."""
import pytest
import torch


@pytest.mark.parametrize("flags, mode", [
    ({"avx512f", "avx512bw", "avx512vl", "avx512dq"}, "fp32"),   # AVX-512 without bf16: emulated, slower
    ({"avx512f", "avx512_bf16"}, "bf16 except depthwise"),
    ({"avx2", "amx_tile", "amx_bf16"}, "bf16 except depthwise"),
    (set(), "fp32"),                                          # no /proc/cpuinfo (macOS, Windows)
])
def test_bf16_on_a_cpu_only_where_it_is_native(monkeypatch, flags, mode):
    from roadmap.train import precision as p
    monkeypatch.setattr(p, "cpu_flags", lambda: frozenset(flags))
    assert p.precision(True, torch.device("cpu")) == mode and p.precision(True, torch.device("meta")) == "fp32"


def test_emulated_bf16_is_asked_for_and_only_changes_a_cpu_without_it(monkeypatch):
    from roadmap.train import precision as p
    monkeypatch.setattr(p, "cpu_flags", lambda: frozenset({"avx2"}))
    cpu = torch.device("cpu")
    assert p.precision(True, cpu) == "fp32" and p.precision(True, cpu, emulate_bf16=True) == "bf16 except depthwise"
    assert p.precision(False, cpu, emulate_bf16=True) == "fp32"  # amp off stays fp32
    assert p.precision(True, torch.device("meta"), emulate_bf16=True) == "fp32"


def _conv_and_grads(conv, x, g):
    xa = x.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(xa)
    y.backward(g)
    return y, xa.grad, conv.weight.grad, conv.bias.grad


def test_emulated_bf16_convs_compute_as_native_bf16_does():
    """bf16 operands, sums in fp32, each result rounded to bf16 once: against float64 of the rounded
    operands every output and gradient is off by about one bf16 rounding (2^-9 relative), not by sums
    kept in bf16 (torch's fallback conv on a CPU without bf16 sums the weight gradient sample by sample
    in bf16: 5x that here, 8x at batch 128)."""
    from roadmap.train.precision import Bf16Conv2d, emulate_bf16_layers
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
        assert ((got.double() - want).norm() / want.norm()).item() < 2.5e-3  # one rounding: ~1.7e-3
    for t in (gx, gw, gb):  # rounded to bf16 once, as a native bf16 gradient reaches fp32
        assert torch.equal(t, t.bfloat16().float())


def test_emulated_bf16_linear_layers_compute_as_native_bf16_does():
    from roadmap.train.precision import Bf16Linear, emulate_bf16_layers
    torch.manual_seed(0)
    lin = emulate_bf16_layers(torch.nn.Linear(48, 96))
    assert type(lin) is Bf16Linear
    x, g = torch.randn(32, 7, 7, 48), torch.randn(32, 7, 7, 96).bfloat16()  # (N, H, W, C), as ConvNeXt's blocks
    y, gx, gw, gb = _conv_and_grads(lin, x, g)
    assert y.dtype == torch.bfloat16 and gx.shape == x.shape
    xr, wr, br = (t.detach().bfloat16().double().requires_grad_() for t in (x, lin.weight, lin.bias))
    yr = torch.nn.functional.linear(xr, wr, br)
    yr.backward(g.double())
    for got, want in ((y, yr), (gx, xr.grad), (gw, wr.grad), (gb, br.grad)):
        assert ((got.double() - want).norm() / want.norm()).item() < 2.5e-3
    for t in (gx, gw, gb):
        assert torch.equal(t, t.bfloat16().float())


def test_emulation_swaps_dense_convs_only_where_bf16_is_emulated(monkeypatch):
    import copy
    from roadmap.train import precision as p
    def net():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1, groups=8), torch.nn.Conv2d(8, 4, 1),
                                   torch.nn.Flatten(), torch.nn.Linear(100, 3))
    for flags, dense in (({"avx512_bf16"}, [torch.nn.Conv2d, torch.nn.Linear]), ({"avx2"}, [p.Bf16Conv2d, p.Bf16Linear])):
        monkeypatch.setattr(p, "cpu_flags", lambda: frozenset(flags))
        m = p.for_precision(net(), p.precision(True, torch.device("cpu"), emulate_bf16=True))
        assert [type(c) for c in m] == [p.Fp32Conv2d, dense[0], torch.nn.Flatten, dense[1]]
    assert copy.deepcopy(m)[1].__class__ is p.Bf16Conv2d and list(m.state_dict()) == list(net().state_dict())
    x = torch.randn(2, 8, 5, 5)
    assert torch.equal(m(x), net()(x))  # outside autocast an ordinary fp32 conv
    assert [type(c) for c in p.for_precision(net(), p.Precision.FP32)] == [type(c) for c in net()]


def test_emulated_layers_run_fp32_kernels_even_with_backward_inside_autocast():
    """The trainer calls backward() inside its autocast region: the emulated layers' GEMMs and convs must
    still get fp32 operands (bf16 ones take torch's slow bf16 kernels: 3x slower training)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from roadmap.train.precision import emulate_bf16_layers

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
