"""Sampling math against plain reference loops, official CFG rules, ComfyUI noise."""
import math

import pytest
import torch
from torch import nn

from newbie.sampling import grid_from_sigmas, partial_grid, sample, time_grid


class ToyField(nn.Module):
    """Stands in for the transformer: v = f(x, t), with the call log kept."""

    def __init__(self, field, dtype=torch.float32):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1, dtype=dtype))
        self.field = field
        self.calls = []  # (batch, t, dtype of x)

    def forward(self, x, t, cap_feats, cap_mask, clip_pooled):
        self.calls.append((x.shape[0], float(t[0]), x.dtype))
        return self.field(x.float(), t.float()[:, None, None, None], cap_feats).to(x.dtype)


def cond(value=1.0, batch=1):
    return (torch.full((batch, 3, 4), value), torch.ones(batch, 3, dtype=torch.bool),
            torch.zeros(batch, 2))


def reference(solver, field, x, grid):
    """Plain textbook loops, written independently of the pack."""
    for t, tn in zip(grid[:-1], grid[1:], strict=True):
        h = tn - t
        if solver == "euler":
            x = x + h * field(x, t)
        else:
            x = x + h * field(x + h / 2 * field(x, t), t + h / 2)
    return x


@pytest.mark.parametrize("solver", ["euler", "midpoint"])
def test_solvers_equal_a_reference_loop_and_converge(solver):
    rate = -1.3
    model = ToyField(lambda x, t, c: rate * x)
    x0 = torch.randn(1, 16, 4, 4)
    grid = time_grid(10, 6.0).tolist()
    ours = sample(model, cond(), None, x0, steps=10, solver=solver, cfg=1.0)
    torch.testing.assert_close(ours, reference(solver, lambda x, t: rate * x, x0, grid),
                               rtol=1e-6, atol=1e-6)
    exact = x0 * math.exp(rate)
    errors = [(sample(model, cond(), None, x0, steps=n, solver=solver, cfg=1.0, shift=1.0)
               - exact).abs().max().item() for n in (8, 16)]
    order = math.log2(errors[0] / errors[1])
    assert order == pytest.approx(1.0 if solver == "euler" else 2.0, abs=0.25)


@pytest.mark.parametrize("solver", ["euler", "midpoint", "dpmpp_2m"])
def test_straight_flow_lands_exactly_on_the_data(solver):
    data = torch.randn(1, 16, 4, 4)
    model = ToyField(lambda x, t, c: (data - x) / (1 - t))
    out = sample(model, cond(), None, torch.randn(1, 16, 4, 4), steps=7, solver=solver, cfg=1.0)
    torch.testing.assert_close(out, data, rtol=1e-5, atol=1e-5)


def test_dpmpp_2m_is_second_order():
    """On v = a x between t = 0.1 and 0.9 (DPM++ needs 0 < t < 1 inside the run)."""
    rate = -1.3
    model = ToyField(lambda x, t, c: rate * x)
    x0 = torch.randn(1, 4, 2, 2)
    start, exact = x0 * math.exp(rate * 0.1), x0 * math.exp(rate * 0.9)
    errors = []
    for n in (8, 16):
        # Starting from `latent` at t = 0.1 with zero noise puts x exactly at `start`.
        out = sample(model, cond(), None, torch.zeros_like(x0), latent=start / 0.1,
                     sigmas=torch.linspace(0.9, 0.1, n + 1), solver="dpmpp_2m", cfg=1.0)
        errors.append((out - exact).abs().max().item())
    assert math.log2(errors[0] / errors[1]) == pytest.approx(2.0, abs=0.4)


def test_cfg_is_batched_and_truncated_in_the_official_direction():
    model = ToyField(lambda x, t, c: c[:, :1, :1, None].expand_as(x) - x)
    grid = time_grid(28, 6.0).tolist()
    sample(model, cond(1.0), cond(-1.0), torch.randn(1, 16, 4, 4), steps=28, cfg=5.0)
    assert [b for b, _, _ in model.calls] == [2] * 28  # one batched forward a step
    model.calls.clear()
    sample(model, cond(1.0), cond(-1.0), torch.randn(1, 16, 4, 4), steps=28, cfg=5.0,
           cfg_trunc=0.25)
    guided = [t for b, t, _ in model.calls if b == 2]
    plain = [t for b, t, _ in model.calls if b == 1]
    # The early (noisy) steps keep CFG; t reaches the model as float32.
    assert guided == pytest.approx([t for t in grid[:-1] if t < 0.25], rel=1e-6)
    assert plain == pytest.approx([t for t in grid[:-1] if t >= 0.25], rel=1e-6)
    assert len(plain) > 0
    assert len(guided) < 28


def test_cfg_combines_and_renorm_caps_each_sample():
    x = torch.randn(2, 16, 4, 4)
    model = ToyField(lambda x, t, c: c[:, :1, :1, None].expand_as(x) * torch.ones_like(x))
    from newbie.sampling.guidance import GuidedVelocity
    v = GuidedVelocity(model, cond(1.0), cond(0.2), 3.0, None, 0.0, torch.float32, 2)(x, 0.1)
    torch.testing.assert_close(v, torch.full_like(x, 0.2 + 3.0 * 0.8))
    capped = GuidedVelocity(model, cond(1.0), cond(0.2), 3.0, None, 1.5, torch.float32, 2)(x, 0.1)
    norms = capped.flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, torch.full((2,), 1.5 * torch.ones(16 * 16).norm().item()))


def test_dtype_reaches_the_model():
    model = ToyField(lambda x, t, c: -x, dtype=torch.bfloat16)
    sample(model, cond(), cond(), torch.randn(1, 16, 4, 4), steps=3)
    assert {d for _, _, d in model.calls} == {torch.bfloat16}
    model.calls.clear()
    sample(model, cond(), cond(), torch.randn(1, 16, 4, 4), steps=3, dtype=torch.float16)
    assert {d for _, _, d in model.calls} == {torch.float16}


def test_partial_schedules_start_part_way():
    full = time_grid(20, 6.0)
    part = partial_grid(10, 6.0, 0.5)
    assert len(part) == 11 and torch.equal(part, full[-11:])
    model = ToyField(lambda x, t, c: -x)
    latent, noise = torch.ones(1, 16, 4, 4), torch.zeros(1, 16, 4, 4)
    sample(model, cond(), None, noise, steps=10, denoise=0.5, latent=latent, cfg=1.0)
    assert model.calls[0][1] == pytest.approx(float(full[10]))
    with pytest.raises(ValueError, match="denoise < 1 needs a latent"):
        sample(model, cond(), None, noise, steps=10, denoise=0.5)
    with pytest.raises(ValueError, match=r"denoise must be in \(0, 1\]"):
        sample(model, cond(), None, noise, steps=10, denoise=1.5, latent=latent)


def test_sigmas_drive_the_grid_and_are_checked():
    torch.testing.assert_close(grid_from_sigmas(torch.tensor([1.0, 0.5, 0.0])),
                               torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
    for bad, message in [([14.6, 1.0, 0.0], "must lie in"), ([0.0, 1.0], "must not increase"),
                         ([1.0], "at least two")]:
        with pytest.raises(ValueError, match=message):
            grid_from_sigmas(torch.tensor(bad))


@pytest.mark.parametrize("bad, message", [(dict(steps=0), "steps must be at least 1"),
                                          (dict(cfg=-1.0), "cfg must be >= 0"),
                                          (dict(solver="rk4"), "solver 'rk4'"),
                                          (dict(shift=0.0), "shift must be positive")])
def test_bad_settings_are_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        sample(ToyField(lambda x, t, c: -x), cond(), cond(), torch.randn(1, 16, 4, 4),
               **{"steps": 4, **bad})


def test_fp16_overflow_is_named_not_saved():
    from newbie.sampling import NonFiniteError
    model = ToyField(lambda x, t, c: x * 1e6, dtype=torch.float16)
    with pytest.raises(NonFiniteError, match=r"NaN/Inf computing in torch.float16; float16 overflows"):
        sample(model, cond(), None, torch.randn(1, 16, 4, 4), steps=3, cfg=1.0)


def test_fp16_clamps_keep_the_transformer_finite():
    from devtools.tiny_models import official_dit

    from newbie.models import NewBieTransformer
    weights = official_dit()
    for key in weights:  # blow the FFN up past float16's range
        if "feed_forward.w2" in key:
            weights[key] = weights[key] * 1e5
    model = NewBieTransformer.from_state_dict(weights, dtype=torch.float16)
    x = torch.randn(1, 16, 8, 8, dtype=torch.float16)
    out = model(x, torch.tensor([0.5]), torch.randn(1, 4, 32, dtype=torch.float16), None,
                torch.randn(1, 16, dtype=torch.float16))
    assert torch.isfinite(out).all()


