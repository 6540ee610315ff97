"""Time grids in the official (Lumina) convention: t = 0 is noise, t = 1 is data.

ComfyUI and diffusers count sigma = 1 - t the other way round.
"""
from __future__ import annotations

import torch

DEFAULT_SHIFT = 6.0


def shift_time(t: torch.Tensor, shift: float) -> torch.Tensor:
    """t' = t / (t + s (1 - t)): spends more of the steps near the noise end."""
    return t / (t + shift * (1.0 - t))


def time_grid(steps: int, shift: float = DEFAULT_SHIFT) -> torch.Tensor:
    """steps + 1 shifted times from 0 (noise) to 1 (data), float64."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if shift <= 0:
        raise ValueError(f"shift must be positive, got {shift}")
    return shift_time(torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64), shift)


def partial_grid(steps: int, shift: float, denoise: float) -> torch.Tensor:
    """The last `steps` steps of a grid of round(steps / denoise) steps, as ComfyUI
    does for denoise < 1 (img2img, hires fix)."""
    if not 0.0 < denoise <= 1.0:
        raise ValueError(f"denoise must be in (0, 1], got {denoise}")
    total = max(steps, int(steps / denoise))
    return time_grid(total, shift)[-(steps + 1):]


def grid_from_sigmas(sigmas: torch.Tensor) -> torch.Tensor:
    """ComfyUI SIGMAS (1 = noise, decreasing) -> our increasing time grid."""
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
    if sigmas.numel() < 2:
        raise ValueError("SIGMAS needs at least two values (one step)")
    if sigmas.min() < 0 or sigmas.max() > 1:
        raise ValueError(f"SIGMAS must lie in [0, 1] for a flow model; got "
                         f"{float(sigmas.min()):.3g}..{float(sigmas.max()):.3g}")
    if (sigmas[1:] > sigmas[:-1]).any():
        raise ValueError("SIGMAS must not increase")
    return 1.0 - sigmas
