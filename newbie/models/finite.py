"""Finding NaN or infinity in a model's weights, to name the damaged file when an
output turns non-finite (checked only then: a scan at load would read every page of
the memory-mapped weights)."""
from __future__ import annotations

from itertools import chain

import torch
from torch import nn


def first_non_finite(module: nn.Module) -> str | None:
    """The name of the first floating parameter or buffer holding NaN or infinity."""
    for name, tensor in chain(module.named_parameters(), module.named_buffers()):
        if (tensor.is_floating_point() and tensor.device.type != "meta"
                and not torch.isfinite(tensor).all()):
            return name
    return None
