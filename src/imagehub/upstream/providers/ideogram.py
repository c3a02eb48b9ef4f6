"""Ideogram's API: `POST /v1/{model}/generate`, multipart, `Api-Key` header, URLs that expire.

One call makes up to 8 images (`num_images`). Sizes go as `resolution` (WxH); quality picks the
`rendering_speed` (low TURBO, medium DEFAULT, high QUALITY). An image Ideogram judges unsafe
comes back with `is_image_safe: false` and no URL: that is `content_policy_violation`.

Edits: `POST /v1/ideogram-v3/inpaint` (Ideogram's API reference, 2026-12; `/edit` is the legacy
path), the files `image` and `mask`, the mask black where Ideogram repaints and white elsewhere,
at the image's size. OpenAI's mask marks that area by transparency, or the image's own
transparency does without a mask; either is repainted in Ideogram's colours. No `resolution`:
the answer has the source's size.

Ideogram 4.0 (`/v1/ideogram-v4/generate`) takes the prompt as `text_prompt`; its `num_images`
and `seed` are not verified, so it is asked for one image a call and sent neither.
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
    Upload,
    malformed,
    moderated,
    upload,
)
from imagehub.upstream.providers.masks import painted_mask

_SPEEDS = {"low": "TURBO", "medium": "DEFAULT", "high": "QUALITY"}
#: Models whose generate call names the prompt `text_prompt` (Ideogram 4.0).
_TEXT_PROMPT_MODELS = frozenset({"ideogram-v4"})


class IdeogramProvider(DeclaredProvider):
    kind: ClassVar[str] = "ideogram"
    vendor: ClassVar[str] = "Ideogram"
    result_hosts: ClassVar[tuple[str, ...]] = ("ideogram.ai", ".ideogram.ai")

    def auth(self, api_key: str) -> dict[str, str]:
        return {"Api-Key": api_key}

    def request(self, job: ImageJob, count: int) -> Call:
        model = job.spec.upstream_id(self.kind)
        speed = ("rendering_speed", _SPEEDS.get(job.quality or "medium", "DEFAULT"))
        if model in _TEXT_PROMPT_MODELS:
            v4 = (("text_prompt", job.prompt), ("resolution", job.size), speed)
            return Call("POST", self.url(f"/v1/{model}/generate"), form=v4)
        form = [("prompt", job.prompt), ("num_images", str(count)), speed]
        if not job.images:
            form.append(("resolution", job.size))
        if job.seed is not None:
            form.append(("seed", str(job.seed)))
        if job.extra("negative_prompt") is not None:  # on inpaint too: Ideogram refuses it, if at all
            form.append(("negative_prompt", str(job.extra("negative_prompt"))))
        if job.extra("style_preset") is not None:
            form.append(("style_type", str(job.extra("style_preset"))))
        if job.extra("prompt_upsampling") is not None:
            form.append(("magic_prompt", "ON" if job.extra("prompt_upsampling") else "OFF"))
        if not job.images:
            return Call("POST", self.url(f"/v1/{model}/generate"), form=tuple(form))
        mask = painted_mask(job.mask or job.images[0], edit="black", what="mask" if job.mask else "image")
        files = (upload("image", job.images[0]), Upload("mask", mask, "mask.png", "image/png"))
        return Call("POST", self.url(f"/v1/{model}/inpaint"), form=tuple(form), files=files)

    def read(self, payload: Any, job: ImageJob) -> Outcome:
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list) or not data:
            raise malformed(self.label)
        if any(isinstance(item, dict) and item.get("is_image_safe") is False for item in data):
            raise moderated(self.vendor, "the image was judged unsafe")
        if not all(isinstance(item, dict) and isinstance(item.get("url"), str) for item in data):
            raise malformed(self.label, "an answer without image URLs")
        return Done(tuple(Image(url=item["url"]) for item in data))
