"""Reading a state dict's structure, and checking it against the model it should fill,
with readable lists."""
from __future__ import annotations

import re
from ..errors import NewBieError


class StateDictMismatch(NewBieError, ValueError):
    """Keys or shapes that do not fit the model built from the config."""

    def __init__(self, missing: list[str], unexpected: list[str], wrong_shapes: list[str]):
        self.missing, self.unexpected, self.wrong_shapes = missing, unexpected, wrong_shapes
        parts = []
        if wrong_shapes:
            parts.append(f"{len(wrong_shapes)} tensors have the wrong shape, first: "
                         + ", ".join(wrong_shapes[:3]))
        if missing:
            parts.append(f"{len(missing)} keys missing")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys")
        super().__init__("; ".join(parts))


def check_state_dict(expected: dict, given: dict):
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    wrong = [f"{k} {tuple(given[k].shape)} (expected {tuple(expected[k].shape)})"
             for k in expected if k in given and tuple(given[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        raise StateDictMismatch(missing, unexpected, wrong)


def count_numbered(keys, prefix: str) -> int:
    """How many numbered children `<prefix><N>.` the keys hold (layers, blocks, levels):
    one more than the highest N, 0 when there is none."""
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)\.")
    return 1 + max((int(m.group(1)) for k in keys if (m := pattern.match(k))), default=-1)
