"""The sandbox engine: what sandbox keys get instead of a paid model.

Offline and deterministic: the seed comes from the request itself, so the same request gives the
same bytes every time, and tests and CI can depend on it. Edits and variations return the first
source image tinted (only inside the mask's transparent areas, when there is a mask) and captioned
with the prompt, so edit flows can be tested offline.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
from collections.abc import AsyncGenerator

from PIL import Image

from imagehub.schema.events import PartialImage, StreamItem
from imagehub.schema.images import GeneratedImage, GenerationResult, ImageJob, InputImage
from imagehub.upstream.providers.sandbox.render import progressive, render, sources


def _seed(job: ImageJob, index: int) -> int:
    parts = [
        job.spec.name,
        job.prompt,
        job.size,
        job.quality,
        job.style,
        job.background,
        job.output_format,
        job.output_compression,
        job.n,
        index,
    ]
    material = "\x1f".join(str(part) for part in parts).encode()
    for image in job.images:
        material += hashlib.sha256(image.data or b"").digest()
    if job.operation != "generate":
        material += job.operation.encode()
    if job.mask is not None:
        material += b"mask" + hashlib.sha256(job.mask.data or b"").digest()
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big")


def _footer(job: ImageJob, index: int) -> str:
    details = [job.spec.name, f"{job.width}x{job.height}"]
    details += [value for value in (job.quality, job.style) if value]
    if job.operation != "generate":
        details.append(job.operation)
    details.append(f"{index + 1}/{job.n}")
    return " | ".join(details)


def _input_image_tokens(image: InputImage) -> int:
    """Vision-style tokens of one source image: fit 2048, shortest side 768, 170 per 512 tile + 85."""
    width, height = max(image.width, 1), max(image.height, 1)
    scale = min(1.0, 2048 / max(width, height))
    scale *= min(1.0, 768 / (min(width, height) * scale))
    tiles = math.ceil(width * scale / 512) * math.ceil(height * scale / 512)
    return 85 + 170 * tiles


def sandbox_usage(job: ImageJob) -> dict[str, object] | None:
    """Plausible, deterministic token usage in OpenAI's shape, for models that report usage.

    Text is a token per four characters, output the catalog's tokens for the quality, scaled by
    area: not what OpenAI would bill, but stable, so cost code can be tested offline.
    """
    per_quality = job.spec.output_tokens
    if not per_quality:
        return None
    text = max(1, math.ceil(len(job.prompt) / 4))
    images = sum(_input_image_tokens(image) for image in job.images)
    quality = job.quality if job.quality in per_quality else "medium"
    each = round(per_quality.get(quality, 0) * job.width * job.height / (1024 * 1024))
    output = each * job.n
    return {
        "input_tokens": text + images,
        "input_tokens_details": {"text_tokens": text, "image_tokens": images},
        "output_tokens": output,
        "output_tokens_details": {"image_tokens": output, "text_tokens": 0},
        "total_tokens": text + images + output,
    }


class SandboxProvider:
    name = "sandbox"
    kind = "sandbox"

    async def generate(self, job: ImageJob) -> GenerationResult:
        base, region = await self._sources(job)
        datas = await asyncio.gather(*(self._render(job, index, base, region) for index in range(job.n)))
        images = [self._image(job, data) for data in datas]
        return GenerationResult(images=images, provider=self.name, sandbox=True, usage=sandbox_usage(job))

    async def stream(self, job: ImageJob, partial_images: int) -> AsyncGenerator[StreamItem, None]:
        """Each image's `partial_images` progressive previews, then the image; all deterministic."""
        images = []
        transparent = job.background == "transparent"
        base, region = await self._sources(job)
        for index in range(job.n):
            data = await self._render(job, index, base, region)
            for stage in range(partial_images):
                preview = await asyncio.to_thread(
                    progressive, data, stage, partial_images, job.output_format, transparent
                )
                yield PartialImage(base64.b64encode(preview).decode("ascii"), stage, job.output_format, index)
            image = self._image(job, data)
            images.append(image)
            yield image
        yield GenerationResult(images=images, provider=self.name, sandbox=True, usage=sandbox_usage(job))

    @staticmethod
    def _image(job: ImageJob, data: bytes) -> GeneratedImage:
        revised = job.prompt if job.spec.revises_prompt else None
        return GeneratedImage(format=job.output_format, data=data, revised_prompt=revised)

    @staticmethod
    async def _sources(job: ImageJob) -> tuple[Image.Image | None, Image.Image | None]:
        """Decode the edit's source and mask once for all `n` images, not once per image."""
        source = job.images[0] if job.images else None
        return await asyncio.to_thread(
            sources,
            source.data if source else None,
            job.mask.data if job.mask is not None else None,
            job.operation == "edit" and job.spec.mask_from_alpha,
            job.width,
            job.height,
        )

    @staticmethod
    async def _render(
        job: ImageJob, index: int, base: Image.Image | None, region: Image.Image | None
    ) -> bytes:
        return await asyncio.to_thread(
            render,
            seed=_seed(job, index),
            prompt=job.prompt,
            footer=_footer(job, index),
            width=job.width,
            height=job.height,
            output_format=job.output_format,
            compression=job.output_compression,
            transparent=job.background == "transparent",
            base=base,
            region=region,
        )

    async def close(self) -> None:
        return None
