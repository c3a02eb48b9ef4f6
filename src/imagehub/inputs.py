"""Decode and verify the `image` field: base64 (raw or data: URI) or an http(s) URL.

Bytes are decoded here and checked by Pillow, so a truncated, disguised or oversized image is a
400 naming `image[i]` before any provider sees it.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings

from PIL import Image, UnidentifiedImageError

from imagehub.errors import InvalidRequest
from imagehub.jobs import InputImage

MAX_IMAGES = 16
MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 64_000_000  # well above any model's input; far below a decompression bomb
ALLOWED_FORMATS = ("png", "jpeg", "webp")

_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w=.-]+)*?;base64,", re.IGNORECASE)


def _param(index: int, many: bool) -> str:
    return f"image[{index}]" if many else "image"


def _decode_base64(text: str, param: str) -> bytes:
    match = _DATA_URI.match(text)
    payload = text[match.end() :] if match else text
    payload = "".join(payload.split())
    if len(payload) * 3 // 4 > MAX_IMAGE_BYTES:
        raise InvalidRequest(
            f"'{param}' is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB.",
            param=param,
            code="image_too_large",
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            f"'{param}' is neither an http(s) URL nor valid base64 image data.",
            param=param,
            code="invalid_image",
        ) from None


def inspect_image(data: bytes, param: str) -> InputImage:
    """Decode fully with Pillow; reject what is not a whole png/jpeg/webp within the pixel cap."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = (probe.format or "").lower()
                width, height = probe.size
                if width * height > MAX_PIXELS:
                    raise InvalidRequest(
                        f"'{param}' is {width}x{height}; images over {MAX_PIXELS} pixels are refused.",
                        param=param,
                        code="image_too_large",
                    )
                probe.load()
    except InvalidRequest:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        raise InvalidRequest(
            f"'{param}' is not a readable image (corrupt, truncated or not an image).",
            param=param,
            code="invalid_image",
        ) from None
    if fmt not in ALLOWED_FORMATS:
        raise InvalidRequest(
            f"'{param}' is {fmt or 'an unknown format'}; accepted formats: {', '.join(ALLOWED_FORMATS)}.",
            param=param,
            code="invalid_image_format",
        )
    return InputImage(data=data, format=fmt, width=width, height=height)


def decode_input_images(value: str | list[str]) -> tuple[InputImage, ...]:
    items = [value] if isinstance(value, str) else value
    many = not isinstance(value, str)
    if not items:
        raise InvalidRequest("'image' must contain at least one image.", param="image", code="empty_array")
    if len(items) > MAX_IMAGES:
        raise InvalidRequest(
            f"'image' has {len(items)} images; at most {MAX_IMAGES} are accepted.",
            param="image",
            code="array_above_max_length",
        )
    decoded: list[InputImage] = []
    for index, item in enumerate(items):
        param = _param(index, many)
        text = item.strip()
        if not text:
            raise InvalidRequest(f"'{param}' is empty.", param=param, code="empty_string")
        if text.lower().startswith(("http://", "https://")):
            decoded.append(InputImage(url=text))
        else:
            decoded.append(inspect_image(_decode_base64(text, param), param))
    return tuple(decoded)
