"""Ideogram's API: `POST /v1/{model}/generate`, multipart, `Api-Key` header, URLs that expire.

One call makes up to 8 images (`num_images`). Sizes go as `resolution` (WxH); quality picks the
`rendering_speed` (low TURBO, medium DEFAULT, high QUALITY). An image Ideogram judges unsafe
comes back with `is_image_safe: false` and no URL: that is `content_policy_violation`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from imagehub.schema.images import ImageJob
from imagehub.upstream.providers.declared import (
    Call,
    DeclaredProvider,
    Done,
    Image,
    Outcome,
    malformed,
    moderated,
)

_SPEEDS = {"low": "TURBO", "medium": "DEFAULT", "high": "QUALITY"}


class IdeogramProvider(DeclaredProvider):
    kind: ClassVar[str] = "ideogram"
    vendor: ClassVar[str] = "Ideogram"
    result_hosts: ClassVar[tuple[str, ...]] = ("ideogram.ai", ".ideogram.ai")

    def auth(self, api_key: str) -> dict[str, str]:
        return {"Api-Key": api_key}

    def request(self, job: ImageJob, count: int) -> Call:
        form = [
            ("prompt", job.prompt),
            ("resolution", job.size),
            ("num_images", str(count)),
            ("rendering_speed", _SPEEDS.get(job.quality or "medium", "DEFAULT")),
        ]
        if job.seed is not None:
            form.append(("seed", str(job.seed)))
        if job.extra("negative_prompt") is not None:
            form.append(("negative_prompt", str(job.extra("negative_prompt"))))
        if job.extra("style_preset") is not None:
            form.append(("style_type", str(job.extra("style_preset"))))
        if job.extra("prompt_upsampling") is not None:
            form.append(("magic_prompt", "ON" if job.extra("prompt_upsampling") else "OFF"))
        return Call("POST", self.url(f"/v1/{job.spec.upstream_id(self.kind)}/generate"), form=tuple(form))

    def read(self, payload: Any, job: ImageJob) -> Outcome:
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list) or not data:
            raise malformed(self.label)
        if any(isinstance(item, dict) and item.get("is_image_safe") is False for item in data):
            raise moderated(self.vendor, "the image was judged unsafe")
        if not all(isinstance(item, dict) and isinstance(item.get("url"), str) for item in data):
            raise malformed(self.label, "an answer without image URLs")
        return Done(tuple(Image(url=item["url"]) for item in data))
