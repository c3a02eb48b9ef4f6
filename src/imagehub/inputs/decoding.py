"""Read and verify source images: decode base64, fetch URLs, and check every image with Pillow.

Checks read the header (format, size, mode) and the file's structure, never the whole pixel
array: a 250 KB PNG may claim 64 megapixels, 256 MB once decoded, and a request that is refused
must not cost that. A truncated, corrupt or disguised file is still a 400 naming its field
(`image[2]`): PNG chunks are read to IEND with their CRCs, a baseline JPEG is decoded at 1/8
scale (a progressive one must end with its EOI marker), WebP's RIFF length is checked, and
small images are decoded whole. Pixels are decoded only by the
providers that draw with them, inside the process's decode budget (upstream/providers/pixels.py).
What each model takes (formats, bytes, shape, pixels, mask) is catalog data.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import re
import struct
import warnings
from dataclasses import replace

from PIL import Image, UnidentifiedImageError

from imagehub.catalog import ModelSpec
from imagehub.config import Settings
from imagehub.errors import InvalidRequest
from imagehub.inputs.fetch import ByteBudget, ImageFetcher
from imagehub.inputs.netguard import AddressPolicy
from imagehub.inputs.sources import ImageSource
from imagehub.schema.images import ImageJob, InputImage

MAX_PIXELS = 64_000_000  # well above any model's input; far below a decompression bomb
FULL_CHECK_PIXELS = 1_048_576  # images up to this size are decoded whole to check them (4 MB at most)
MAX_MASK_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_TOTAL_BYTES = 64 * 1024 * 1024
DECODABLE = ("PNG", "JPEG", "WEBP")  # Pillow never tries another decoder on client bytes

_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w=.-]+)*?;base64,", re.IGNORECASE)
# Formats Pillow is not allowed to open, recognised only to name them in the error.
_SIGNATURES = (
    (b"GIF8", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"%PDF", "pdf"),
    (b"8BPS", "psd"),
    (b"\x00\x00\x00\x0cjP  ", "jpeg2000"),
)


def _megabytes(count: int) -> str:
    return f"{count / (1024 * 1024):g} MB"


def _too_large(param: str, limit: int, who: str = "") -> InvalidRequest:
    return InvalidRequest(
        f"'{param}' is larger than {_megabytes(limit)}{who}.", param=param, code="image_too_large"
    )


def decode_base64(text: str, param: str, max_bytes: int) -> bytes:
    """Raw base64 or a data: URI; the size is checked before decoding a byte."""
    match = _DATA_URI.match(text)
    payload = "".join((text[match.end() :] if match else text).split())
    if len(payload) * 3 // 4 > max_bytes + 2:
        raise _too_large(param, max_bytes)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            f"'{param}' is neither an http(s) URL nor valid base64 image data.",
            param=param,
            code="invalid_image",
        ) from None


def _sniff(data: bytes) -> str | None:
    head = data[:16]
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return "heic/avif"
    stripped = data[:256].lstrip().lower()
    if stripped.startswith((b"<svg", b"<?xml")):
        return "svg"
    return next((name for magic, name in _SIGNATURES if head.startswith(magic)), None)


def inspect_image(data: bytes, param: str) -> InputImage:
    """Format, size and alpha from the header; refuse what is not a whole png, jpeg or webp within the cap.

    Never holds the decoded pixels of a large image: see the module's docstring.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=DECODABLE) as probe:
                fmt = (probe.format or "").lower()
                width, height = probe.size
                if width * height > MAX_PIXELS:
                    raise _too_many_pixels(param, f"is {width}x{height}", MAX_PIXELS)
                has_alpha = probe.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in probe.info
                _check_structure(probe, data)
    except InvalidRequest:
        raise
    except UnidentifiedImageError:
        other = _sniff(data)
        if other is not None:
            raise InvalidRequest(
                f"'{param}' is {other}; accepted formats: png, jpeg, webp.",
                param=param,
                code="invalid_image_format",
            ) from None
        raise _unreadable(param) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(param, "claims more pixels than Pillow's own bomb limit", MAX_PIXELS) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error):
        raise _unreadable(param) from None
    return InputImage(data=data, format=fmt, width=width, height=height, has_alpha=has_alpha)


def _check_structure(probe: Image.Image, data: bytes) -> None:
    """Raise OSError/SyntaxError when the file is not whole, in memory bounded by a few megabytes."""
    width, height = probe.size
    if width * height <= FULL_CHECK_PIXELS:
        probe.load()
    elif probe.format == "JPEG" and (probe.info.get("progressive") or probe.info.get("progression")):
        # libjpeg holds every coefficient of a progressive image (3 bytes a pixel and more) at
        # any scale: check that the file ends where a JPEG ends instead.
        if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
            raise SyntaxError("truncated JPEG")
    elif probe.format == "JPEG":
        probe.draft(probe.mode, (max(1, width // 8), max(1, height // 8)))  # decodes every scan, 1/64 kept
        probe.load()
    elif probe.format == "PNG":
        probe.verify()  # every chunk to IEND, CRCs checked; the pixel data is not inflated
    elif probe.format == "WEBP" and int.from_bytes(data[4:8], "little") + 8 > len(data):
        raise SyntaxError("truncated RIFF container")


def _too_many_pixels(param: str, what: str, limit: int, who: str = "") -> InvalidRequest:
    return InvalidRequest(
        f"'{param}' {what}; images over {limit:,} pixels are refused{who}.",
        param=param,
        code="image_too_large",
    )


def _unreadable(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"'{param}' is not a readable image (corrupt, truncated or not an image).",
        param=param,
        code="invalid_image",
    )


def check_image(spec: ModelSpec, image: InputImage, param: str) -> None:
    """The model's own rules for a source image: format, bytes and shape."""
    if image.format not in spec.input_formats:
        raise InvalidRequest(
            f"'{param}' is {image.format}; {spec.name} takes {', '.join(spec.input_formats)}.",
            param=param,
            code="invalid_image_format",
        )
    if len(image.data or b"") > spec.max_input_bytes:
        raise _too_large(param, spec.max_input_bytes, f" ({spec.name}'s limit)")
    if image.width * image.height > spec.max_input_pixels:
        raise _too_many_pixels(
            param, f"is {image.width}x{image.height}", spec.max_input_pixels, f" by {spec.name}"
        )
    if spec.square_input and image.width != image.height:
        raise InvalidRequest(
            f"'{param}' is {image.width}x{image.height}; {spec.name} takes square images only.",
            param=param,
            code="invalid_image_dimensions",
        )


def check_mask(mask: InputImage, first: InputImage) -> None:
    """A PNG with an alpha channel, the same size as the first image (its transparency is the edit)."""
    if mask.format != "png":
        raise InvalidRequest(
            f"'mask' is {mask.format}; a mask must be a PNG.", param="mask", code="invalid_image_format"
        )
    if not mask.has_alpha:
        raise InvalidRequest(
            "'mask' has no alpha channel; its fully transparent areas mark where to edit.",
            param="mask",
            code="invalid_mask",
        )
    if (mask.width, mask.height) != (first.width, first.height):
        raise InvalidRequest(
            f"'mask' is {mask.width}x{mask.height} but the image is {first.width}x{first.height}; "
            "they must match.",
            param="mask",
            code="invalid_mask",
        )


class InputLoader:
    """Turns a job's sources into verified images: uploads as sent, base64 decoded, URLs fetched."""

    def __init__(
        self, fetcher: ImageFetcher | None = None, max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES
    ) -> None:
        self.fetcher = fetcher or ImageFetcher()
        self.max_total_bytes = max_total_bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> InputLoader:
        policy = AddressPolicy.from_setting(settings.fetch_allowlist)
        fetcher = ImageFetcher(policy, timeout_seconds=settings.fetch_timeout_seconds)
        return cls(fetcher, settings.max_upload_bytes)

    async def load(
        self, job: ImageJob, sources: tuple[ImageSource, ...], mask: ImageSource | None
    ) -> ImageJob:
        spec = job.spec
        every = (*sources, mask) if mask is not None else sources
        caps = [(spec.max_input_bytes, f" ({spec.name}'s limit)")] * len(sources)
        if mask is not None:
            caps.append((MAX_MASK_BYTES, " (the limit for masks)"))
        budget = ByteBudget(self.max_total_bytes)
        for source in every:
            if source.data is not None:
                budget.take(len(source.data), source.param)
        raws = await self._read_all(every, caps, budget)
        inspected = await asyncio.to_thread(
            lambda: [inspect_image(raw, source.param) for raw, source in zip(raws, every, strict=True)]
        )
        images = []
        for source, image in zip(sources, inspected[: len(sources)], strict=True):
            check_image(spec, image, source.param)
            images.append(replace(image, url=source.url))
        loaded_mask = inspected[-1] if mask is not None else None
        if loaded_mask is not None:
            check_mask(loaded_mask, images[0])
        elif job.operation == "edit" and spec.mask_from_alpha and not images[0].has_alpha:
            param = sources[0].param
            raise InvalidRequest(
                f"'{param}' has no transparency and no mask was sent; {spec.name} edits the transparent "
                "areas of the image, or of 'mask'.",
                param=param,
                code="invalid_image",
            )
        first = images[0]
        source_size = (first.width, first.height)
        if job.operation == "edit" and spec.edits_at_source_size and (job.width, job.height) != source_size:
            raise InvalidRequest(
                f"{spec.name} edits at the source image's own size, {first.width}x{first.height}; "
                f"'size' is {job.size}. Send size='{first.width}x{first.height}'.",
                param="size",
                code="invalid_value",
            )
        return replace(job, images=tuple(images), mask=loaded_mask)

    async def _read_all(
        self, sources: tuple[ImageSource, ...], caps: list[tuple[int, str]], budget: ByteBudget
    ) -> list[bytes]:
        """Every source's bytes; URLs are fetched concurrently and the first failure wins."""
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(self._read(source, cap, budget))
                    for source, cap in zip(sources, caps, strict=True)
                ]
        except* InvalidRequest as failures:
            raise failures.exceptions[0] from None
        return [task.result() for task in tasks]

    async def _read(self, source: ImageSource, cap: tuple[int, str], budget: ByteBudget) -> bytes:
        limit, whose = cap
        if source.data is not None:
            if len(source.data) > limit:
                raise _too_large(source.param, limit, whose)
            return source.data
        url = source.url
        if url is not None:
            return await self.fetcher.fetch(url, param=source.param, max_bytes=limit, budget=budget)
        data = decode_base64(source.text or "", source.param, limit)
        if len(data) > limit:
            raise _too_large(source.param, limit, whose)
        budget.take(len(data), source.param)
        return data
