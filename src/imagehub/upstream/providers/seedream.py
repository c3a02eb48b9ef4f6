"""ByteDance Seedream on BytePlus ModelArk: OpenAI-like generations with `size` as WxH."""

from __future__ import annotations

from typing import Any, ClassVar

from imagehub.schema.images import ImageJob
from imagehub.upstream.providers.declared import data_uri
from imagehub.upstream.providers.openai_shaped import OpenAIShapedProvider


class SeedreamProvider(OpenAIShapedProvider):
    """Seedream on BytePlus ModelArk: size as WxH, one image per call, no watermark."""

    kind: ClassVar[str] = "seedream"
    vendor: ClassVar[str] = "BytePlus ModelArk"
    result_hosts: ClassVar[tuple[str, ...]] = (".bytepluses.com", ".volces.com")

    def body(self, job: ImageJob, count: int) -> dict[str, Any]:
        body: dict[str, Any] = {"size": job.size, "response_format": "url", "watermark": False}
        if job.seed is not None:
            body["seed"] = job.seed
        if job.images:  # reference images, as data URIs
            body["image"] = [data_uri(image) for image in job.images]
        return body
