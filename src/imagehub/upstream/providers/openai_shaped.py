"""The shared base of vendors whose generate call is OpenAI-shaped: Recraft, xAI, Seedream.

Each posts JSON to `{base}/images/generations` with Bearer auth and reads `data[]` items that
carry `url` or `b64_json`; they differ only in how the size is said and what else is sent, which
each subclass declares in `body`.
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
)

#: Error codes and words OpenAI-shaped vendors use for a moderation refusal.
_MODERATION = ("content_policy", "moderation", "sensitive", "safety")


class OpenAIShapedProvider(DeclaredProvider):
    """The OpenAI-like generate call; subclasses declare the body."""

    vendor: ClassVar[str]

    def body(self, job: ImageJob, count: int) -> dict[str, Any]:
        raise NotImplementedError

    #: Where a job with source images goes; None: the vendor takes them on generations (`body`).
    edit_path: ClassVar[str | None] = None

    def request(self, job: ImageJob, count: int) -> Call:
        body = {"model": job.spec.upstream_id(self.kind), "prompt": job.prompt, **self.body(job, count)}
        path = self.edit_path if job.images and self.edit_path else "/images/generations"
        return Call("POST", self.url(path), json=body)

    def read(self, payload: Any, job: ImageJob) -> Outcome:
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list) or not data:
            raise malformed(self.label)
        images = []
        for item in data:
            if not isinstance(item, dict):
                raise malformed(self.label)
            if isinstance(item.get("b64_json"), str):
                images.append(Image(b64=item["b64_json"]))
            elif isinstance(item.get("url"), str):
                images.append(Image(url=item["url"]))
            else:
                raise malformed(self.label, "an answer without an image")
        return Done(tuple(images))

    def parse_error(self, status: int, payload: Any) -> Any:
        info = super().parse_error(status, payload)
        text = f"{info.code or ''} {info.message}".lower()
        if any(word in text for word in _MODERATION):
            return type(info)(info.message, "content_policy_violation")
        return info
