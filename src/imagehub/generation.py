"""The generation service: validate, route, store, and shape the result. No HTTP in here."""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field

from imagehub.accounts.keys import KeyInfo
from imagehub.catalog import Catalog
from imagehub.catalog.validate import validate_generation
from imagehub.errors import InvalidRequest
from imagehub.jobs import GeneratedImage, GenerationResult, ImageJob
from imagehub.protocol import ImageGenerationRequest
from imagehub.routing import Router
from imagehub.storage import FileStore, StoredImage, UrlSigner

FILES_PATH = "/api/images/files/"


@dataclass(slots=True)
class GenerationOutcome:
    """Everything the API needs to render OpenAI's ImagesResponse."""

    created: int
    data: list[dict[str, str]]
    sandbox: bool
    provider: str
    echo: dict[str, object] = field(default_factory=dict)


class GenerationService:
    def __init__(
        self, catalog: Catalog, router: Router, store: FileStore, signer: UrlSigner, url_ttl_seconds: int
    ) -> None:
        self.catalog = catalog
        self.router = router
        self.store = store
        self.signer = signer
        self.url_ttl_seconds = url_ttl_seconds

    async def generate(
        self, request: ImageGenerationRequest, key: KeyInfo, base_url: str
    ) -> GenerationOutcome:
        job = validate_generation(self.catalog, request)
        if any(image.data is None for image in job.images):
            raise InvalidRequest(
                "Image URLs in 'image' are not fetched yet; send the image as base64 or a data: URI.",
                param="image",
                code="unsupported_image_source",
            )
        created = int(time.time())
        result = await self.router.generate(job, sandbox=key.sandbox)
        if job.response_format == "url":
            data = await self._store_all(result.images, base_url)
        else:
            data = [_b64_item(image) for image in result.images]
        return GenerationOutcome(
            created=created,
            data=data,
            sandbox=result.sandbox,
            provider=result.provider,
            echo=_echo(job, result),
        )

    async def _store_all(self, images: list[GeneratedImage], base_url: str) -> list[dict[str, str]]:
        """Store every image or none: on any failure, files already written are removed."""
        expires = int(time.time()) + self.url_ttl_seconds
        stored: list[StoredImage] = []
        try:
            for image in images:
                data = image.data if image.data is not None else base64.b64decode(image.b64 or "")
                stored.append(await asyncio.to_thread(self.store.put, data, image.format, expires))
        except BaseException:
            for item in stored:
                self.store.delete(item.name)
            raise
        items = []
        for image, item in zip(images, stored, strict=True):
            entry = {"url": f"{base_url}{FILES_PATH}{item.name}?{self.signer.query(item.name, item.expires)}"}
            if image.revised_prompt is not None:
                entry["revised_prompt"] = image.revised_prompt
            items.append(entry)
        return items


def _b64_item(image: GeneratedImage) -> dict[str, str]:
    b64 = image.b64 if image.b64 is not None else base64.b64encode(image.data or b"").decode("ascii")
    entry = {"b64_json": b64}
    if image.revised_prompt is not None:
        entry["revised_prompt"] = image.revised_prompt
    return entry


def _echo(job: ImageJob, result: GenerationResult) -> dict[str, object]:
    """GPT image models echo the parameters they used, as OpenAI's response does.

    The upstream's own report wins; the sandbox's is derived from the job.
    """
    if not job.spec.reports_echo:
        return {}
    echo: dict[str, object] = {
        "background": "transparent" if job.background == "transparent" else "opaque",
        "output_format": job.output_format,
        "size": f"{job.width}x{job.height}",
        "quality": job.quality if job.quality in ("low", "medium", "high") else "medium",
    }
    echo.update(result.echo or {})
    if result.usage is not None:
        echo["usage"] = result.usage
    return echo
