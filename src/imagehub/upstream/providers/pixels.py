"""Decoding source pixels inside a per-process memory budget, reduced to what the caller draws.

Checking a request reads image headers only (inputs/decoding.py); the providers that need pixels
(the sandbox, the local engine) decode here. A decode holds the whole image in memory for a
moment (a 64-megapixel RGBA PNG of 250 KB is 256 MB of pixels), so the bytes of decodes in flight
are capped per process: past the cap a request gets 503 with Retry-After, never a process that
grows by gigabytes under a handful of small uploads.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

from imagehub.errors import InvalidRequest, ServiceUnavailable

DEFAULT_BUDGET_BYTES = 1024 * 1024 * 1024
RETRY_AFTER_SECONDS = 2
_REDUCIBLE = ("L", "LA", "RGB", "RGBA", "RGBX", "I", "F")


def decode_cost(width: int, height: int, mode: str) -> int:
    """Bytes Pillow allocates for the pixels: one per pixel for 1, L and P, two for I;16, else four."""
    if mode in ("1", "L", "P"):
        per_pixel = 1
    elif mode.startswith("I;16"):
        per_pixel = 2
    else:
        per_pixel = 4  # Pillow keeps RGB, LA and PA in four bytes a pixel too
    return width * height * per_pixel


class DecodeBudget:
    """Bytes of pixels this process may hold in decodes at once; thread-safe, never waits."""

    def __init__(self, limit_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.limit_bytes = limit_bytes
        self.in_use = 0
        self._lock = threading.Lock()

    def configure(self, limit_bytes: int) -> None:
        """Set once at start-up from IMAGEHUB_DECODE_BUDGET_MB."""
        self.limit_bytes = limit_bytes

    @contextmanager
    def hold(self, cost: int, what: str) -> Iterator[None]:
        """Hold `cost` bytes for the block; 503 now, rather than a wait nobody bounds, when full."""
        if cost > self.limit_bytes:
            raise InvalidRequest(
                f"'{what}' needs {cost >> 20} MB to decode; this hub decodes at most "
                f"{self.limit_bytes >> 20} MB at once (IMAGEHUB_DECODE_BUDGET_MB). Send a smaller image.",
                param=what,
                code="image_too_large",
            )
        with self._lock:
            if self.in_use + cost > self.limit_bytes:
                raise ServiceUnavailable(
                    f"The hub is decoding as many images as its memory budget allows; "
                    f"retry in {RETRY_AFTER_SECONDS}s.",
                    code="decode_budget_exhausted",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                )
            self.in_use += cost
        try:
            yield
        finally:
            with self._lock:
                self.in_use -= cost


DECODES = DecodeBudget()


def open_covering(
    data: bytes, width: int, height: int, what: str, budget: DecodeBudget = DECODES
) -> Image.Image:
    """The image decoded and reduced by a whole factor so it still covers `width` x `height`.

    JPEG is reduced while decoding (draft); other formats are decoded whole, then reduced, inside
    the budget. What comes back is at most a few times the caller's canvas.
    """
    with Image.open(io.BytesIO(data)) as image:
        cost = 0
        if image.format == "JPEG":
            if image.info.get("progressive") or image.info.get("progression"):
                # libjpeg keeps every coefficient of a progressive image, whatever the scale.
                cost += image.width * image.height * len(image.getbands()) * 2
            image.draft("RGB", (width, height))
        full_width, full_height = image.size
        cost += decode_cost(full_width, full_height, image.mode)
        rgba = decode_cost(full_width, full_height, "RGBA")
        if image.mode not in _REDUCIBLE:
            cost += 2 * rgba  # converted to RGBA, then the premultiplied copy `reduce` makes
        elif "A" in image.mode:
            cost += rgba  # `reduce` premultiplies alpha into a copy of the whole image
        factor = max(1, min(full_width // max(width, 1), full_height // max(height, 1)))
        with budget.hold(cost + cost // (factor * factor), what):
            try:
                image.load()
            except (OSError, SyntaxError, ValueError, EOFError) as error:
                raise InvalidRequest(
                    f"'{what}' is not a readable image ({error}).", param=what, code="invalid_image"
                ) from None
            decoded: Image.Image = image if image.mode in _REDUCIBLE else image.convert("RGBA")
            return decoded.reduce(factor) if factor > 1 else decoded.copy()
