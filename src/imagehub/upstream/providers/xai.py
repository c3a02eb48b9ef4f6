"""xAI's Grok Imagine: OpenAI-style generations with `aspect_ratio` and `resolution` instead of size."""

from __future__ import annotations

from typing import Any, ClassVar

from imagehub.schema.images import ImageJob
from imagehub.upstream.providers.declared import data_uri
from imagehub.upstream.providers.openai_shaped import OpenAIShapedProvider


class XAIProvider(OpenAIShapedProvider):
    """xAI Grok Imagine: `aspect_ratio` and `resolution` (1k, 2k) from the catalog, quality tier."""

    kind: ClassVar[str] = "xai"
    vendor: ClassVar[str] = "xAI"
    result_hosts: ClassVar[tuple[str, ...]] = (".x.ai",)
    edit_path: ClassVar[str | None] = "/images/edits"  # JSON, not OpenAI's multipart (docs.x.ai)

    def body(self, job: ImageJob, count: int) -> dict[str, Any]:
        body: dict[str, Any] = {"n": count, "response_format": "b64_json"}
        body["aspect_ratio"] = job.spec.aspect_ratios[job.size]
        if job.size in job.spec.image_sizes:
            body["resolution"] = job.spec.image_sizes[job.size]
        if job.quality is not None and job.spec.qualities:
            body["quality"] = job.quality
        if job.images:  # one source image as a data URI; xAI's multi-image shape is not verified
            body["image"] = {"url": data_uri(job.images[0]), "type": "image_url"}
        return body
