"""Give a successor's images the exact size and shape the retired model promised.

A successor draws the same aspect ratio at or above the asked size (catalog.sizing); Pillow's
`ImageOps.fit` scales it down to the asked width and height, cropping only when no size of the
exact ratio existed. `revised_prompt` stays only where the retired model gave one.
"""

from __future__ import annotations

import asyncio
import io

from PIL import Image, ImageOps

from imagehub.schema.images import GeneratedImage, GenerationResult, ImageJob

_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def _resized(data: bytes, fmt: str, width: int, height: int) -> bytes:
    with Image.open(io.BytesIO(data)) as opened:
        if opened.size == (width, height):
            return data
        opened.load()
        fitted = ImageOps.fit(opened, (width, height), method=Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    fitted.save(buffer, _PIL_FORMATS.get(fmt, "PNG"))
    return buffer.getvalue()


def fit_image_now(image: GeneratedImage, job: ImageJob) -> GeneratedImage:
    """`image` at the asked size (unchanged when the job is not a successor's)."""
    asked = job.asked
    if asked is None:
        return image
    data = image.image_bytes()  # pixels are needed: the one place an answer is decoded whole
    image.close()
    fitted = _resized(data, image.format, asked.width, asked.height)
    revised = image.revised_prompt if asked.spec.revises_prompt else None
    if fitted is data and image.revised_prompt == revised and image.spool is None:
        return image
    return GeneratedImage(format=image.format, data=fitted, revised_prompt=revised)


async def fit_image(image: GeneratedImage, job: ImageJob) -> GeneratedImage:
    """`fit_image_now` off the event loop: decoding and resampling take milliseconds per image."""
    if job.asked is None:
        return image
    return await asyncio.to_thread(fit_image_now, image, job)


async def fit_result(result: GenerationResult, job: ImageJob) -> GenerationResult:
    """Every image of `result` at the asked size; usage and echo stay the successor's (for billing)."""
    if job.asked is None:
        return result
    images = [await fit_image(image, job) for image in result.images]
    return GenerationResult(
        images=images, provider=result.provider, sandbox=result.sandbox, usage=result.usage, echo=result.echo
    )
