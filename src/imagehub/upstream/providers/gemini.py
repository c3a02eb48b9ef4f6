"""Gemini's generateContent wire, shared by every API that serves the Gemini image models.

The Gemini API (google.py) and Vertex AI (vertex.py) take the same request body and send the
same answer; they differ only in where a model lives and how a call is authenticated, which a
subclass says in `model_url` and `auth_headers`. OpenAI-style sizes become an aspect ratio and,
for models with several resolutions, an imageConfig.imageSize ("1K", "2K", "4K"), through the
catalog's exact tables (a size with no entry never reaches here: validation refuses it). Gemini
returns one image per call, so `n` images are `n` concurrent calls.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from imagehub.payloads.jsonstream import SPOOL_ABOVE_BYTES
from imagehub.payloads.spool import Spool
from imagehub.schema.images import GeneratedImage, GenerationResult, ImageJob
from imagehub.upstream.deployments import Deployment
from imagehub.upstream.providers.errors import ClientFault, DeploymentFault, Retryable
from imagehub.upstream.providers.http import UpstreamClient, UpstreamErrorInfo

_BLOCKING_FINISH = {
    "SAFETY",
    "IMAGE_SAFETY",
    "PROHIBITED_CONTENT",
    "IMAGE_PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "RECITATION",
    "IMAGE_RECITATION",
}
_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}


def parse_google_error(status: int, payload: Any) -> UpstreamErrorInfo:
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return UpstreamErrorInfo(f"HTTP {status}")
    code = str(error.get("status") or "").lower() or None
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("reason") == "API_KEY_INVALID":
            code = "api_key_invalid"
    return UpstreamErrorInfo(str(error.get("message") or f"HTTP {status}"), code)


def image_config(job: ImageJob) -> dict[str, str]:
    """The job's size as Gemini's imageConfig: an aspect ratio, and a tier where there are several."""
    config = {"aspectRatio": job.spec.aspect_ratios[job.size]}
    image_size = job.spec.image_sizes.get(job.size)
    if image_size is not None:
        config["imageSize"] = image_size
    return config


def content_body(job: ImageJob) -> dict[str, Any]:
    """The generateContent request: the prompt, any source images inline, and the image config."""
    parts: list[dict[str, Any]] = [{"text": job.prompt}]
    for image in job.images:
        parts.append(
            {
                "inlineData": {
                    "mimeType": f"image/{image.format or 'png'}",
                    "data": base64.b64encode(image.data or b"").decode("ascii"),
                }
            }
        )
    return {
        "contents": [{"role": "user", "parts": parts}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": image_config(job)},
    }


def _blocked(platform: str, reason: str) -> ClientFault:
    return ClientFault(
        f"The request was rejected by {platform}'s safety filters ({reason}).",
        code="content_policy_violation",
    )


class GenerateContentProvider:
    """`n` concurrent generateContent calls, their images and summed token usage."""

    kind = "google"
    platform = "Google"  # named in safety-filter refusals

    def __init__(self, deployment: Deployment, *, secrets: tuple[str, ...] = ()) -> None:
        self.name = deployment.name
        self._client = UpstreamClient(
            label=f"deployment {deployment.name!r}",
            timeout_seconds=deployment.timeout_seconds,
            secrets=secrets,
            max_connections=deployment.max_connections,
        )

    def model_url(self, job: ImageJob) -> str:
        """The address of the job's model, up to (not including) `:generateContent`."""
        raise NotImplementedError

    async def auth_headers(self) -> dict[str, str]:
        raise NotImplementedError

    async def _post(self, job: ImageJob, body: dict[str, Any]) -> Any:
        try:
            return await self._client.request_json(
                "POST",
                f"{self.model_url(job)}:generateContent",
                headers=await self.auth_headers(),
                json=body,
                parse_error=parse_google_error,
                spool_above=SPOOL_ABOVE_BYTES,
            )
        except ClientFault as fault:
            if fault.code == "api_key_invalid":  # Google says 400 for a bad key: our fault, not the client's
                raise DeploymentFault(
                    f"deployment {self.name!r} has an invalid API key.", status=400
                ) from None
            raise

    async def generate(self, job: ImageJob) -> GenerationResult:
        body = content_body(job)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._post(job, body)) for _ in range(job.n)]
        except* (ClientFault, Retryable, DeploymentFault) as failures:
            raise failures.exceptions[0] from None
        images: list[GeneratedImage] = []
        usage = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        for task in tasks:
            payload = task.result()
            images.append(self._content_image(payload))
            meta = payload.get("usageMetadata") or {}
            usage["input_tokens"] += int(meta.get("promptTokenCount") or 0)
            usage["output_tokens"] += int(meta.get("candidatesTokenCount") or 0)
            usage["total_tokens"] += int(meta.get("totalTokenCount") or 0)
        return GenerationResult(images=images, provider=self.name, usage=dict(usage))

    def _content_image(self, payload: Any) -> GeneratedImage:
        if not isinstance(payload, dict):
            raise Retryable(
                f"deployment {self.name!r} sent a malformed answer.", status=502, code="upstream_bad_response"
            )
        block = (payload.get("promptFeedback") or {}).get("blockReason")
        if block:
            raise _blocked(self.platform, block)
        candidates = payload.get("candidates") or []
        for candidate in candidates:
            for part in (candidate.get("content") or {}).get("parts") or []:
                inline = part.get("inlineData") or part.get("inline_data")
                data = inline.get("data") if inline else None
                if inline and not part.get("thought") and isinstance(data, (str, Spool)):
                    mime = inline.get("mimeType") or inline.get("mime_type") or "image/png"
                    if isinstance(data, Spool):  # a 4K image: megabytes, kept off the heap
                        return GeneratedImage(format=_FORMATS.get(mime, "png"), spool=data)
                    return GeneratedImage(format=_FORMATS.get(mime, "png"), b64=data)
        reasons = {str(candidate.get("finishReason")) for candidate in candidates}
        blocking = reasons & _BLOCKING_FINISH
        if blocking:
            raise _blocked(self.platform, sorted(blocking)[0])
        raise ClientFault(
            f"The model answered without an image (finish reason: {', '.join(sorted(reasons)) or 'none'}).",
            status=502,
            code="upstream_no_image",
            type_="server_error",
        )

    async def close(self) -> None:
        await self._client.close()
