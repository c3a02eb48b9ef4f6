"""Provider `local`: open models run by the hub itself, with diffusers, behind dynamic batching.

Field mapping (README, "Local engine"): size is the output's width and height, already checked
against the model's range by the catalog; n is the number of images for the prompt; quality picks
a step preset from the deployment; `image` turns the call into image-to-image from that one
source; `seed` seeds image i with seed + i. Imported only when a local deployment is configured,
so the core hub never loads torch.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import secrets
from collections.abc import AsyncGenerator, Mapping, Sequence

from PIL import Image

from imagehub.catalog import load_catalog
from imagehub.errors import InvalidRequest, ServiceUnavailable
from imagehub.schema.events import PartialImage, StreamItem, preview_steps, whole_answer
from imagehub.schema.images import GeneratedImage, GenerationResult, ImageJob
from imagehub.upstream.deployments import Deployment
from imagehub.upstream.providers.errors import DeploymentFault
from imagehub.upstream.providers.local.batching import Batcher, BatcherClosed, QueueFull
from imagehub.upstream.providers.local.pipeline import (
    BatchKey,
    DiffusionEngine,
    EngineRequest,
    PreviewSink,
    load_engine,
)
from imagehub.upstream.providers.pixels import open_covering

log = logging.getLogger("imagehub.local")


def _source_image(data: bytes, width: int, height: int) -> Image.Image:
    """The edit's source as RGB at the output size: the pipeline draws over it, pixel for pixel.

    Decoded inside the process's decode budget and reduced while decoding where the format allows.
    """
    rgb = open_covering(data, width, height, "image").convert("RGB")
    return rgb if rgb.size == (width, height) else rgb.resize((width, height), Image.Resampling.LANCZOS)


def _encode(image: Image.Image, output_format: str, compression: int | None) -> bytes:
    out = io.BytesIO()
    if output_format == "jpeg":
        image.save(out, "JPEG", quality=compression if compression is not None else 90)
    elif output_format == "webp":
        image.save(out, "WEBP", quality=compression if compression is not None else 90)
    else:
        image.save(out, "PNG", compress_level=3)
    return out.getvalue()


def _encode_preview(preview: Image.Image, job: ImageJob) -> bytes:
    """A latent preview at the output's size (it is 1/8 of it), in the output's format."""
    return _encode(
        preview.resize((job.width, job.height), Image.Resampling.BILINEAR), job.output_format, None
    )


def _encode_all(images: Sequence[Image.Image], output_format: str, compression: int | None) -> list[bytes]:
    return [_encode(image, output_format, compression) for image in images]


class LocalProvider:
    """Serves one model from one set of weights; concurrent compatible requests share calls."""

    kind = "local"

    def __init__(self, deployment: Deployment, engine: DiffusionEngine) -> None:
        self.name = deployment.name
        self.deployment = deployment
        self.engine = engine
        self.batcher: Batcher[BatchKey, EngineRequest, list[Image.Image]] = Batcher(
            engine.run,
            max_batch=deployment.max_batch,
            max_wait=deployment.max_wait_ms / 1000,
            queue_size=deployment.queue_size,
            name=deployment.name,
        )

    @classmethod
    def from_deployment(cls, deployment: Deployment, environ: Mapping[str, str]) -> LocalProvider:
        return cls.load(deployment)

    @classmethod
    def load(cls, deployment: Deployment) -> LocalProvider:
        """Load the weights now, at start-up, so a bad path fails the start and not a request."""
        engine = load_engine(deployment)
        spec = load_catalog().get(deployment.models[0])
        side = spec.min_side if spec is not None and spec.min_side else 512
        engine.warm_up(side, side)  # the first call pays one-off set-up costs; not a client's request
        log.info("local deployment %s loaded %s", deployment.name, deployment.path or deployment.model_id)
        return cls(deployment, engine)

    def steps(self, quality: str | None) -> int:
        if quality in self.deployment.quality_steps:
            return self.deployment.quality_steps[quality]
        return self.deployment.steps  # auto

    async def generate(self, job: ImageJob) -> GenerationResult:
        return await self._run(job)

    async def stream(self, job: ImageJob, partial_images: int) -> AsyncGenerator[StreamItem, None]:
        """Previews decoded from the latents at evenly spaced steps, then the finished images."""
        steps = preview_steps(self.steps(job.quality), partial_images)
        previews: asyncio.Queue[tuple[int, int, Image.Image]] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def sink(image_index: int, partial_index: int, preview: Image.Image) -> None:
            loop.call_soon_threadsafe(previews.put_nowait, (image_index, partial_index, preview))

        running = asyncio.ensure_future(self._run(job, steps, sink if steps else None))
        try:
            while not running.done() or not previews.empty():
                waiting = asyncio.ensure_future(previews.get())
                await asyncio.wait({waiting, running}, return_when=asyncio.FIRST_COMPLETED)
                if not waiting.done():
                    waiting.cancel()
                    continue
                image_index, partial_index, preview = waiting.result()
                data = await asyncio.to_thread(_encode_preview, preview, job)
                yield PartialImage(
                    base64.b64encode(data).decode("ascii"), partial_index, job.output_format, image_index
                )
            result = running.result()
        finally:
            if not running.done():
                running.cancel()  # the client left: the queued generation is dropped
        async for item in whole_answer(result):
            yield item

    async def _run(
        self, job: ImageJob, previews: tuple[int, ...] = (), sink: PreviewSink | None = None
    ) -> GenerationResult:
        if len(job.images) > 1:
            raise InvalidRequest(
                f"{job.spec.name} edits one image at a time; 'image' has {len(job.images)}.",
                param="image",
                code="unsupported_parameter",
            )
        source = None
        if job.images:
            data = job.images[0].data
            assert data is not None  # URLs are refused before routing
            source = await asyncio.to_thread(_source_image, data, job.width, job.height)
        first = job.seed if job.seed is not None else secrets.randbelow(2**32)
        request = EngineRequest(
            prompt=job.prompt,
            seeds=tuple(first + index for index in range(job.n)),
            source=source,
            previews=previews,
            on_preview=sink,
        )
        key = BatchKey(
            edit=source is not None, width=job.width, height=job.height, steps=self.steps(job.quality)
        )
        try:
            images = await self.batcher.submit(key, request, size=job.n)
        except QueueFull as full:
            raise ServiceUnavailable(
                f"The local engine for {job.spec.name!r} is busy ({self.batcher.waiting} requests waiting). "
                f"Retry in {full.retry_after}s.",
                code="engine_overloaded",
                headers={"Retry-After": str(full.retry_after)},
            ) from None
        except BatcherClosed:
            raise ServiceUnavailable(
                "The local engine is shutting down.", code="engine_unavailable", headers={"Retry-After": "1"}
            ) from None
        except Exception as exc:
            log.exception("local deployment %s failed", self.name)
            raise DeploymentFault(f"The local engine failed ({type(exc).__name__}).") from exc
        datas = await asyncio.to_thread(_encode_all, images, job.output_format, job.output_compression)
        generated = [GeneratedImage(format=job.output_format, data=data) for data in datas]
        return GenerationResult(images=generated, provider=self.name)

    async def close(self) -> None:
        await self.batcher.close()
