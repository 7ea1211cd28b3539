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
