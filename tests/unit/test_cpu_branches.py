"""Every branch that depends on the machine, forced both ways, so no result depends on
which CPU (or card) runs the suite: half-precision GEMM done natively (AVX512-BF16,
AMX) or through float32 where the CPU would emulate it, and the `auto` dtypes."""
import pytest
import torch
import torch.nn.functional as F
from devtools.tiny_models import official_dit

from newbie.loading import resolve_dtype
from newbie.models import NewBieTransformer
from newbie.models import linear as linear_module


@pytest.fixture(params=[True, False], ids=["native-half-gemm", "emulated-half-gemm"])
def half_gemm(request, monkeypatch):
    monkeypatch.setattr(linear_module, "cpu_has_half_gemm", lambda dtype: request.param)
    return request.param


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_linear_takes_the_branch_the_cpu_asks_for(half_gemm, dtype):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 40, 96, generator=gen).to(dtype)
    weight = (torch.randn(384, 96, generator=gen) * 0.1).to(dtype)
    bias = torch.randn(384, generator=gen).to(dtype)
    out = linear_module.linear(x, weight, bias)
    assert out.dtype == dtype
    if half_gemm:
        assert torch.equal(out, F.linear(x, weight, bias))
    else:  # float32 operands, rounded once
        assert torch.equal(out, F.linear(x.float(), weight.float(), bias.float()).to(dtype))
    exact = F.linear(x.double(), weight.double(), bias.double())
    torch.testing.assert_close(out.double(), exact, rtol=2e-2, atol=2e-2)


def test_the_transformer_agrees_with_float32_on_either_branch(half_gemm):
    weights = official_dit()
    reference = NewBieTransformer.from_state_dict(weights, dtype=torch.float32)
    half = NewBieTransformer.from_state_dict(weights, dtype=torch.bfloat16)
    gen = torch.Generator().manual_seed(1)
    x, t = torch.randn(2, 16, 8, 8, generator=gen), torch.rand(2, generator=gen)
    cap, pooled = torch.randn(2, 5, 32, generator=gen), torch.randn(2, 16, generator=gen)
    with torch.no_grad():
        expected = reference(x, t, cap, None, pooled)
        out = half(x.bfloat16(), t, cap.bfloat16(), None, pooled.bfloat16()).float()
    assert ((out - expected).norm() / expected.norm()).item() < 0.03


def test_auto_dtypes_on_every_kind_of_device(monkeypatch):
    assert resolve_dtype("auto", "cpu", "transformer") == torch.bfloat16
    assert resolve_dtype("auto", "cpu", "text_encoder") == torch.bfloat16
    assert resolve_dtype("auto", "cpu", "vae") == torch.float32
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for has_bf16, expected in ((True, torch.bfloat16), (False, torch.float16)):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, has=has_bf16, **k: has)
        assert resolve_dtype("auto", "cuda", "transformer") == expected
        assert resolve_dtype("auto", "cuda", "vae") == expected
    assert resolve_dtype("float32", "cuda") == torch.float32
