"""Recraft's API: OpenAI-shaped generations; raster models answer PNG, `_vector` models SVG."""

from __future__ import annotations

from typing import Any, ClassVar

from imagehub.schema.images import ImageJob
from imagehub.upstream.providers.openai_shaped import OpenAIShapedProvider


class RecraftProvider(OpenAIShapedProvider):
    """Recraft: size as WxH, `style` from the model's presets; `_vector` models answer SVG."""

    kind: ClassVar[str] = "recraft"
    vendor: ClassVar[str] = "Recraft"
    result_hosts: ClassVar[tuple[str, ...]] = ("img.recraft.ai", ".recraft.ai")

    def body(self, job: ImageJob, count: int) -> dict[str, Any]:
        body: dict[str, Any] = {"size": job.size, "n": count, "response_format": "url"}
        if job.extra("style_preset") is not None:
            body["style"] = job.extra("style_preset")
        return body
