"""Helpers for looking at returned images."""

from __future__ import annotations

import base64
import io

from PIL import Image


def decode_b64(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def open_bytes(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def tiny_png(width: int = 64, height: int = 64, colour: tuple[int, int, int] = (30, 160, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()
