"""Source images for the edit tests: good ones, and hostile ones built byte by byte."""

from __future__ import annotations

import io
import os
import struct
import zlib

from PIL import Image


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def png(
    width: int = 64, height: int = 64, colour: tuple[int, ...] = (200, 40, 40), mode: str = "RGB"
) -> bytes:
    return encode(Image.new(mode, (width, height), colour))


def rgba_png(width: int = 64, height: int = 64) -> bytes:
    """Opaque red with a fully transparent left half: dall-e-2's own-alpha mask."""
    image = Image.new("RGBA", (width, height), (200, 40, 40, 255))
    image.paste((0, 0, 0, 0), (0, 0, width // 2, height))
    return encode(image)


def mask_png(width: int = 64, height: int = 64) -> bytes:
    """Transparent (edit here) on the left half, opaque (keep) on the right."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), (0, 0, width // 2, height))
    return encode(image)


def jpeg(width: int = 64, height: int = 64) -> bytes:
    return encode(Image.new("RGB", (width, height), (40, 200, 40)), "JPEG")


def gif() -> bytes:
    return encode(Image.new("P", (16, 16)), "GIF")


def bmp() -> bytes:
    return encode(Image.new("RGB", (16, 16)), "BMP")


def truncated() -> bytes:
    whole = encode(Image.effect_noise((256, 256), 64).convert("RGB"))
    return whole[: len(whole) // 2]


def html_as_image() -> bytes:
    return b"<!doctype html><html><body>not an image</body></html>"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def bomb_png(width: int, height: int) -> bytes:
    """A few hundred bytes whose header claims width x height 1-bit pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096, 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def noise_png(side: int) -> bytes:
    """Incompressible: about 3 x side^2 bytes."""
    return encode(Image.frombytes("RGB", (side, side), os.urandom(3 * side * side)))
