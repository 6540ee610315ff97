"""Finding NaN or infinity in a model's weights, to name the damaged file when an
output turns non-finite (checked only then: a scan at load would read every page of
the memory-mapped weights)."""
from __future__ import annotations

from itertools import chain
from pathlib import Path

import torch
from torch import nn


def first_non_finite(module: nn.Module) -> str | None:
    """The name of the first floating parameter or buffer holding NaN or infinity."""
    for name, tensor in chain(module.named_parameters(), module.named_buffers()):
        if (tensor.is_floating_point() and tensor.device.type != "meta"
                and not torch.isfinite(tensor).all()):
            return name
    return None


def damaged_weights(module: nn.Module, sources: dict[str, Path]) -> str | None:
    """What holds NaN/Inf among a module's weights (file and tensor), or None. `sources`
    maps parameter-name prefixes to the files they came from. Slow: reads every weight."""
    name = first_non_finite(module)
    if name is None:
        return None
    prefix = max((p for p in sources if name.startswith(p)), key=len, default=None)
    where = f"the weights of {Path(sources[prefix]).name}" if prefix is not None else \
        "the model's weights"
    return (f"{where} hold NaN or infinite values (first: {name}); the file is damaged: "
            "download it again")


def non_finite_cause(module: nn.Module, sources: dict[str, Path], dtype: torch.dtype,
                     float16_fix: str) -> str:
    """Why a model's output is NaN/Inf, and only the advice that would help."""
    damaged = damaged_weights(module, sources)
    if damaged:
        return damaged
    if dtype == torch.float16:
        return f"its weights are finite and float16 overflowed: {float16_fix}"
    return (f"its weights are finite and it runs in {str(dtype).replace('torch.', '')}; the "
            "input holds extreme values")
