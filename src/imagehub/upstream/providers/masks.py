"""Masks in the colours a vendor reads, from the transparency OpenAI's edits use.

OpenAI's `mask` (or, without one, the image itself) marks the area to edit by full transparency.
Stability's inpaint reads a greyscale mask, white where it paints; Ideogram's, black where it
paints and white elsewhere, nothing in between. Both want the mask at the image's size, which the
hub already checked (inputs/decoding.py). Decoding happens inside the process's pixel budget.
"""

from __future__ import annotations

import io
from typing import Literal

from imagehub.schema.images import InputImage
from imagehub.upstream.providers.pixels import open_covering

_INVERT = [255 - value for value in range(256)]
_BLACK_BELOW_HALF = [0 if value < 128 else 255 for value in range(256)]


def painted_mask(source: InputImage, *, edit: Literal["white", "black"], what: str = "mask") -> bytes:
    """A PNG in mode L: the transparent pixels of `source` in the `edit` colour, the rest opposite."""
    decoded = open_covering(source.data or b"", source.width, source.height, what)
    with decoded:
        alpha = decoded.convert("RGBA").getchannel("A")
    painted = alpha.point(_INVERT if edit == "white" else _BLACK_BELOW_HALF)
    buffer = io.BytesIO()
    painted.save(buffer, "PNG")
    return buffer.getvalue()
