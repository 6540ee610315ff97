"""ODE solvers for dx/dt = v(x, t) from t = 0 (noise) to t = 1 (data).

euler: one forward a step. midpoint: the official default, two a step.
dpmpp_2m: DPM-Solver++ 2M written for the rectified-flow path
x_t = t x_data + (1 - t) x_noise (alpha = t, sigma = 1 - t), one forward a step.
Each solver calls `on_step(i, x, x_data_estimate)` after step i.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

Velocity = Callable[[torch.Tensor, float], torch.Tensor]
SOLVERS = ("euler", "midpoint", "dpmpp_2m")


def data_estimate(x: torch.Tensor, v: torch.Tensor, t: float) -> torch.Tensor:
    """x_data implied by the velocity at time t (used for previews and DPM++)."""
    return x + (1.0 - t) * v


def euler(v: Velocity, x: torch.Tensor, grid: list[float], on_step) -> torch.Tensor:
    for i in range(len(grid) - 1):
        t, t_next = grid[i], grid[i + 1]
        vel = v(x, t)
        x = x + (t_next - t) * vel
        on_step(i, x, data_estimate(x, vel, t_next))
    return x


def midpoint(v: Velocity, x: torch.Tensor, grid: list[float], on_step) -> torch.Tensor:
    for i in range(len(grid) - 1):
        t, t_next = grid[i], grid[i + 1]
        h = t_next - t
        x_mid = x + 0.5 * h * v(x, t)
        vel = v(x_mid, t + 0.5 * h)
        x = x + h * vel
        on_step(i, x, data_estimate(x, vel, t_next))
    return x


def _lambda(t: float) -> float:
    """log(alpha / sigma) = log(t / (1 - t)), infinite at the ends."""
    if t <= 0.0:
        return -math.inf
    if t >= 1.0:
        return math.inf
    return math.log(t / (1.0 - t))


def dpmpp_2m(v: Velocity, x: torch.Tensor, grid: list[float], on_step) -> torch.Tensor:
    previous = None  # (data estimate, step size h) of the step before
    for i in range(len(grid) - 1):
        t, t_next = grid[i], grid[i + 1]
        data = data_estimate(x, v(x, t), t)
        if t_next >= 1.0:
            x = data  # last step lands on the data estimate
        else:
            h = _lambda(t_next) - _lambda(t)
            decay = 0.0 if math.isinf(h) else math.exp(-h)  # e^{-h}
            d = data
            if previous is not None and not math.isinf(h) and not math.isinf(previous[1]):
                r = previous[1] / h
                d = (1 + 1 / (2 * r)) * data - (1 / (2 * r)) * previous[0]
            x = ((1 - t_next) / (1 - t)) * x + t_next * (1 - decay) * d
            previous = (data, h)
        on_step(i, x, data)
    return x


def solve(name: str, v: Velocity, x: torch.Tensor, grid: list[float], on_step) -> torch.Tensor:
    solvers = {"euler": euler, "midpoint": midpoint, "dpmpp_2m": dpmpp_2m}
    if name not in solvers:
        raise ValueError(f"solver {name!r}: expected one of {SOLVERS}")
    return solvers[name](v, x, grid, on_step)
