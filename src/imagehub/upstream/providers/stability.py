"""Stability AI's REST API v2beta: Stable Image Ultra, Core and SD 3.5, one multipart call each.

`POST /v2beta/stable-image/generate/{ultra|core|sd3}` with `Accept: application/json` answers
`{image (base64), finish_reason, seed}` at once. Sizes map to the `aspect_ratio` Stability takes,
through the catalog's table; one call makes one image, so `n` is concurrent calls. A prompt the
moderation refuses is a 403 named `content_moderation`; an output it filters comes back with
`finish_reason: CONTENT_FILTERED`. Both are the client's `content_policy_violation`.

Edits go to the v2beta edit services, `POST /v2beta/stable-image/edit/{service}` (the catalog's
`stable-image-inpaint` is `inpaint`): the source image as the file `image`, and OpenAI's mask
(transparent = edit) repainted as Stability reads it (white = edit). Without a mask Stability
takes the image's own transparency, which is OpenAI's rule too. The answer has the source's size.
"""

from __future__ import annotations

from typing import Any, ClassVar

from imagehub.schema.images import ImageJob
from imagehub.upstream.providers.declared import (
    CONTENT_POLICY,
    Call,
    DeclaredProvider,
    Done,
    Image,
    Outcome,
    Upload,
    error_text,
    malformed,
    moderated,
    upload,
)
from imagehub.upstream.providers.http import UpstreamErrorInfo
from imagehub.upstream.providers.masks import painted_mask


class StabilityProvider(DeclaredProvider):
    kind: ClassVar[str] = "stability"
    vendor: ClassVar[str] = "Stability AI"

    def request(self, job: ImageJob, count: int) -> Call:
        if job.images:
            return self.edit(job)
        # The catalog's upstream id is the endpoint, and for SD 3.5 also its `model`: "sd3/sd3.5-large".
        endpoint, _, model = job.spec.upstream_id(self.kind).partition("/")
        form = [("prompt", job.prompt), ("output_format", job.output_format)]
        ratio = job.spec.aspect_ratios.get(job.size)
        if ratio:
            form.append(("aspect_ratio", ratio))
        if model:
            form.append(("model", model))
        if job.seed is not None:
            form.append(("seed", str(job.seed)))
        for name in ("negative_prompt", "style_preset"):
            value = job.extra(name)
            if value is not None:
                form.append((name, str(value)))
        return Call(
            "POST",
            self.url(f"/v2beta/stable-image/generate/{endpoint}"),
            form=tuple(form),
            headers={"Accept": "application/json"},
        )

    def edit(self, job: ImageJob) -> Call:
        form = [("prompt", job.prompt), ("output_format", job.output_format)]
        if job.seed is not None:
            form.append(("seed", str(job.seed)))
        if job.extra("negative_prompt") is not None:
            form.append(("negative_prompt", str(job.extra("negative_prompt"))))
        files = [upload("image", job.images[0])]
        if job.mask is not None:
            painted = painted_mask(job.mask, edit="white")
            files.append(Upload("mask", painted, "mask.png", "image/png"))
        return Call(
            "POST",
            self.url(f"/v2beta/stable-image/edit/{job.spec.upstream_id(self.kind)}"),
            form=tuple(form),
            files=tuple(files),
            headers={"Accept": "application/json"},
        )

    def read(self, payload: Any, job: ImageJob) -> Outcome:
        if not isinstance(payload, dict):
            raise malformed(self.label)
        if payload.get("finish_reason") == "CONTENT_FILTERED":
            raise moderated(self.vendor, "CONTENT_FILTERED")
        image = payload.get("image")
        if not isinstance(image, str):
            raise malformed(self.label, "an answer without an image")
        return Done((Image(b64=image, format=job.output_format),))

    def parse_error(self, status: int, payload: Any) -> UpstreamErrorInfo:
        name = error_text(payload, "name")
        message = error_text(payload, "errors", "message") or f"HTTP {status}"
        code = CONTENT_POLICY if name == "content_moderation" else name
        return UpstreamErrorInfo(message, code)
