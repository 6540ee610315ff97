"""Flow-matching sampling for NewBie: shifted grid, solvers, official CFG, noise."""
from .guidance import Conditioning, NonFiniteError
from .noise import comfy_noise
from .sampler import sample
from .schedule import DEFAULT_SHIFT, grid_from_sigmas, partial_grid, shift_time, time_grid
from .solvers import SOLVERS

__all__ = ["Conditioning", "DEFAULT_SHIFT", "NonFiniteError", "SOLVERS", "comfy_noise",
           "grid_from_sigmas", "partial_grid", "sample", "shift_time", "time_grid"]
