"""`sample`: the whole denoising loop in the model's latent space, without ComfyUI."""
from __future__ import annotations

import torch

from .guidance import GuidedVelocity, NonFiniteError, float16_hint
from .schedule import DEFAULT_SHIFT, grid_from_sigmas, partial_grid, time_grid
from .solvers import solve


def _grid(steps, shift, sigmas, denoise, has_latent) -> torch.Tensor:
    if not 0.0 < denoise <= 1.0:
        raise ValueError(f"denoise must be in (0, 1], got {denoise}")
    if sigmas is not None:
        return grid_from_sigmas(sigmas)
    if denoise < 1.0 and not has_latent:
        raise ValueError("denoise < 1 needs a latent to start from")
    return partial_grid(steps, shift, denoise) if denoise < 1.0 else time_grid(steps, shift)


def sample(model, cond, uncond, noise: torch.Tensor, *, steps: int = 28, solver: str = "euler",
           shift: float = DEFAULT_SHIFT, cfg: float = 4.5, cfg_trunc: float | None = None,
           renorm: float = 0.0, sigmas=None, latent: torch.Tensor | None = None,
           denoise: float = 1.0, dtype: torch.dtype | None = None, callback=None,
           device: torch.device | None = None) -> torch.Tensor:
    """Clean latent (model space) from `noise` (model space).

    cond/uncond: (cap_feats, cap_mask, clip_pooled) or objects with those attributes;
    uncond None or cfg 1 runs cond only. cfg_trunc None: CFG at every step; else CFG
    while t < cfg_trunc (t = 0 is noise). `latent` + denoise < 1 (or SIGMAS that start
    below 1) start part-way from it. callback(step, total, x, x_data) after each step;
    it may raise to stop. device: where to compute (default: where the model's
    parameters are; give it when some of them are streamed from another device).
    """
    grid = _grid(steps, shift, sigmas, denoise, latent is not None)
    dtype = dtype or next(model.parameters()).dtype
    device = device or next(model.parameters()).device
    x = noise.to(device, torch.float32)
    t0 = float(grid[0])
    if t0 > 0.0:
        if latent is None:
            raise ValueError("the schedule starts part-way (denoise < 1 or SIGMAS below 1) "
                             "but no latent was given")
        x = t0 * latent.to(device, torch.float32) + (1.0 - t0) * x
    velocity = GuidedVelocity(model, cond, uncond, cfg, cfg_trunc, renorm, dtype, x.shape[0],
                              device)
    total = len(grid) - 1

    def on_step(i, x_now, x_data):
        if callback is not None:
            callback(i, total, x_now, x_data)

    with torch.no_grad():
        result = solve(solver, velocity, x, [float(t) for t in grid], on_step)
    if not torch.isfinite(result).all():  # once, at the end: no scan per step
        raise NonFiniteError(f"the sampled latent is NaN/Inf computing in {dtype}"
                             + float16_hint(dtype))
    return result
