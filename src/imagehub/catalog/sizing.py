"""Which size a successor draws for a retired model's size: same aspect ratio, at or above it.

The hub then resizes the successor's image to exactly the size the client asked for, so the
successor must draw at least as many pixels, in the same shape, wherever it can. A listed size is
preferred (it is documented and priced); a model with a size range gets the smallest in-range
multiple of the ratio; only when neither has the ratio is the closest ratio taken (the resize
then crops the excess rather than distort).
"""

from __future__ import annotations

import math
from fractions import Fraction

from imagehub.catalog.spec import ModelSpec

_MAX_STEPS = 4096


def _listed(spec: ModelSpec) -> list[tuple[str, int, int]]:
    return [(size, *spec.pixel_size(size)) for size in spec.sizes if size != "auto"]


def _ratio_label(spec: ModelSpec, size: str, width: int, height: int) -> str | Fraction:
    """Google's ratio names ("16:9") where the model has them: their pixels are not exact."""
    return spec.aspect_ratios.get(size) or Fraction(width, height)


def _in_range(target: ModelSpec, width: int, height: int) -> tuple[int, int] | None:
    """The smallest width x height of the exact ratio that the target's size range accepts."""
    if not target.has_size_range:
        return None
    ratio = Fraction(width, height)
    p, q = ratio.numerator, ratio.denominator
    m = target.side_multiple
    step = math.lcm(m // math.gcd(m, p), m // math.gcd(m, q))
    for k in range(1, _MAX_STEPS):
        w, h = p * step * k, q * step * k
        if target.max_side is not None and max(w, h) > target.max_side:
            return None
        if w * h >= width * height and target.size_problem(w, h) is None:
            return w, h
    return None


def successor_size(old: ModelSpec, size: str, width: int, height: int, target: ModelSpec) -> str:
    """The `target` size to draw for `old`'s `size` (width x height), by the rule above."""
    label = _ratio_label(old, size, width, height)
    same = [
        (w * h, name)
        for name, w, h in _listed(target)
        if _ratio_label(target, name, w, h) == label or Fraction(w, h) == Fraction(width, height)
    ]
    big_enough = sorted(entry for entry in same if entry[0] >= width * height)
    if big_enough:
        return big_enough[0][1]
    ranged = _in_range(target, width, height)
    if ranged is not None:
        return f"{ranged[0]}x{ranged[1]}"
    if same:
        return max(same)[1]
    wanted = math.log(width / height)
    closest = sorted(
        (abs(math.log(w / h) - wanted), w * h < width * height, w * h, name) for name, w, h in _listed(target)
    )
    return closest[0][3]
