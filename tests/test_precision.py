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


def test_emulation_swaps_dense_convs_only_where_bf16_is_emulated(monkeypatch):
    import copy
    from roadmap.train import bf16_emulation as e, precision as p
    def net():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1, groups=8), torch.nn.Conv2d(8, 4, 1),
                                   torch.nn.Flatten(), torch.nn.Linear(100, 3))
    for flags, dense in (({"avx512_bf16"}, [torch.nn.Conv2d, torch.nn.Linear]), ({"avx2"}, [e.Bf16Conv2d, e.Bf16Linear])):
        monkeypatch.setattr(p, "cpu_flags", lambda: frozenset(flags))
        m = p.for_precision(net(), p.precision(True, torch.device("cpu"), emulate_bf16=True))
        assert [type(c) for c in m] == [p.Fp32Conv2d, dense[0], torch.nn.Flatten, dense[1]]
    assert copy.deepcopy(m)[1].__class__ is e.Bf16Conv2d and list(m.state_dict()) == list(net().state_dict())
    x = torch.randn(2, 8, 5, 5)
    assert torch.equal(m(x), net()(x))  # outside autocast an ordinary fp32 conv
    assert [type(c) for c in p.for_precision(net(), p.Precision.FP32)] == [type(c) for c in net()]
