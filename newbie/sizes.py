"""Image sizes: the official aspect buckets and the size rules of the model."""
from __future__ import annotations

SIZE_MULTIPLE = 16  # 8x VAE downsampling x 2x2 patches
BUCKET_UNIT = 64
MAX_ASPECT = 4.0


def aspect_buckets(area_side: int = 1024, unit: int = BUCKET_UNIT,
                   max_aspect: float = MAX_ASPECT) -> list[tuple[int, int]]:
    """(width, height) pairs of the official demo: sides multiples of `unit`, area at most
    area_side², aspect at most `max_aspect`, walking the staircase of near-full areas
    from the widest to the tallest."""
    budget = (area_side // unit) ** 2
    sizes, wide, high = [], budget, 1
    while wide > 0:
        if max(wide, high) / min(wide, high) <= max_aspect:
            sizes.append((wide * unit, high * unit))
        if (high + 1) * wide <= budget:
            high += 1
        else:
            wide -= 1
    return sizes


def check_size(width: int, height: int) -> None:
    for name, value in (("width", width), ("height", height)):
        if value <= 0 or value % SIZE_MULTIPLE:
            raise ValueError(f"{name} {value} is not a positive multiple of {SIZE_MULTIPLE} "
                             f"(NewBie needs image sides divisible by {SIZE_MULTIPLE})")
