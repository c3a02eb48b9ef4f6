"""Google's Gemini API: the Gemini image models via generateContent.

OpenAI-style sizes become an aspect ratio and, for models with several resolutions, an
imageConfig.imageSize ("1K", "2K", "4K"), through the catalog's exact tables (a size with no
entry never reaches here: validation refuses it). Gemini returns one image per call, so `n`
images are `n` concurrent calls. Imagen (predict) is shut down on this API; the catalog routes
its names to Gemini models.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from typing import Any

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


def _blocked(reason: str) -> ClientFault:
    return ClientFault(
        f"The request was rejected by Google's safety filters ({reason}).", code="content_policy_violation"
    )


class GoogleProvider:
    kind = "google"

    @classmethod
    def from_deployment(cls, deployment: Deployment, environ: Mapping[str, str]) -> GoogleProvider:
        return cls(deployment, deployment.credential(environ))

    def __init__(self, deployment: Deployment, api_key: str | None) -> None:
        self.name = deployment.name
        self._base = deployment.url
        self._headers = {"x-goog-api-key": api_key} if api_key else {}
        self._client = UpstreamClient(
            label=f"deployment {deployment.name!r}",
            timeout_seconds=deployment.timeout_seconds,
            secrets=(api_key or "",),
            max_connections=deployment.max_connections,
        )

    async def _post(self, model: str, method: str, body: dict[str, Any]) -> Any:
        try:
            return await self._client.request_json(
                "POST",
                f"{self._base}/models/{model}:{method}",
                headers=self._headers,
                json=body,
                parse_error=parse_google_error,
            )
        except ClientFault as fault:
            if fault.code == "api_key_invalid":  # Google says 400 for a bad key: our fault, not the client's
                raise DeploymentFault(
                    f"deployment {self.name!r} has an invalid API key.", status=400
                ) from None
            raise

    async def generate(self, job: ImageJob) -> GenerationResult:
        return await self._generate_content(job)

    @staticmethod
    def image_config(job: ImageJob) -> dict[str, str]:
        config = {"aspectRatio": job.spec.aspect_ratios[job.size]}
        image_size = job.spec.image_sizes.get(job.size)
        if image_size is not None:
            config["imageSize"] = image_size
        return config

    def _content_body(self, job: ImageJob) -> dict[str, Any]:
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
            "generationConfig": {
                "responseModalities": ["TEXT", "IMAGE"],
                "imageConfig": self.image_config(job),
            },
        }

    async def _generate_content(self, job: ImageJob) -> GenerationResult:
        body = self._content_body(job)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(self._post(job.spec.name, "generateContent", body))
                    for _ in range(job.n)
                ]
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
            raise _blocked(block)
        candidates = payload.get("candidates") or []
        for candidate in candidates:
            for part in (candidate.get("content") or {}).get("parts") or []:
                inline = part.get("inlineData") or part.get("inline_data")
                if inline and not part.get("thought") and isinstance(inline.get("data"), str):
                    mime = inline.get("mimeType") or inline.get("mime_type") or "image/png"
                    return GeneratedImage(format=_FORMATS.get(mime, "png"), b64=inline["data"])
        reasons = {str(candidate.get("finishReason")) for candidate in candidates}
        blocking = reasons & _BLOCKING_FINISH
        if blocking:
            raise _blocked(sorted(blocking)[0])
        raise ClientFault(
            f"The model answered without an image (finish reason: {', '.join(sorted(reasons)) or 'none'}).",
            status=502,
            code="upstream_no_image",
            type_="server_error",
        )

    async def close(self) -> None:
        await self._client.close()
