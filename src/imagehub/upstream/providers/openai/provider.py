"""OpenAI's images API, and any OpenAI-compatible upstream (LocalAI, vLLM-Omni, a second account).

Generations are JSON; edits and variations are multipart. We always ask DALL-E for base64 so that
the hub either passes the string straight through (`b64_json`) or stores the bytes (`url`) without
a second download; GPT image models answer base64 anyway.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Any

import aiohttp
from yarl import URL

from imagehub.payloads.jsonstream import SPOOL_ABOVE_BYTES
from imagehub.payloads.spool import Spool
from imagehub.schema.events import StreamItem, whole_answer
from imagehub.schema.images import GeneratedImage, GenerationResult, ImageJob
from imagehub.upstream.deployments import Deployment
from imagehub.upstream.providers.errors import Retryable
from imagehub.upstream.providers.http import UpstreamClient, UpstreamErrorInfo
from imagehub.upstream.providers.openai.stream import OpenAIStreamer

# Job attributes forwarded when the model accepts the field of the same name.
_FORWARDED = (
    "quality",
    "style",
    "background",
    "output_format",
    "output_compression",
    "moderation",
    "input_fidelity",
    "complexity",
    "user",
)
# What OpenAI's variations endpoint takes besides the image (no prompt, no quality).
_VARIATION_FIELDS = ("model", "n", "size", "response_format", "user")
_ECHO = ("background", "output_format", "size", "quality")


def parse_openai_error(status: int, payload: Any) -> UpstreamErrorInfo:
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return UpstreamErrorInfo(f"HTTP {status}")

    def text(key: str) -> str | None:
        value = error.get(key)
        return str(value) if value else None

    return UpstreamErrorInfo(text("message") or f"HTTP {status}", text("code"), text("param"), text("type"))


class OpenAIProvider:
    kind = "openai"

    @classmethod
    def from_deployment(cls, deployment: Deployment, environ: Mapping[str, str]) -> OpenAIProvider:
        return cls(deployment, deployment.credential(environ))

    def __init__(self, deployment: Deployment, api_key: str | None) -> None:
        self.name = deployment.name
        self._base = self.api_base(deployment)
        # Parsed once: aiohttp would otherwise parse the URL string on every request.
        self._generations_url = URL(f"{self._base}/images/generations")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = UpstreamClient(
            label=f"deployment {deployment.name!r}",
            timeout_seconds=deployment.timeout_seconds,
            secrets=(api_key or "",),
            max_connections=deployment.max_connections,
        )
        self._streamer = OpenAIStreamer(
            name=deployment.name,
            client=self._client,
            parse_error=self.parse_error,
            timeout_seconds=deployment.timeout_seconds,
            max_connections=deployment.max_connections,
        )

    # ---- what a platform that hosts OpenAI's models (Azure) changes -------------------------------

    @staticmethod
    def api_base(deployment: Deployment) -> str:
        """The address the `/images/…` paths hang under."""
        return deployment.url

    def url(self, job: ImageJob, endpoint: str) -> str | URL:
        """Where `endpoint` ("generations", "edits", "variations") of the job's model is."""
        return self._generations_url if endpoint == "generations" else f"{self._base}/images/{endpoint}"

    async def auth_headers(self) -> dict[str, str]:
        """The credential headers of one call (a platform with expiring tokens refreshes them here)."""
        return self._headers

    @staticmethod
    def parse_error(status: int, payload: Any) -> UpstreamErrorInfo:
        """The upstream's error body in the hub's terms."""
        return parse_openai_error(status, payload)

    def upstream_model(self, job: ImageJob) -> str:
        """The `model` field sent upstream: the catalog name, or the platform's name for it."""
        return job.spec.name

    def _fields(self, job: ImageJob) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "model": self.upstream_model(job),
            "prompt": job.prompt,
            "n": job.n,
            "size": job.size,
        }
        for name in _FORWARDED:
            value = getattr(job, name)
            if value is not None and job.spec.accepts(name):
                fields[name] = value
        if job.spec.upstream_response_format:
            fields["response_format"] = "b64_json"
        return fields

    async def generate(self, job: ImageJob) -> GenerationResult:
        fields = self._fields(job)
        headers = await self.auth_headers()
        if job.operation == "variation":
            variation = {name: value for name, value in fields.items() if name in _VARIATION_FIELDS}
            payload = await self._client.request_json(
                "POST",
                self.url(job, "variations"),
                headers=headers,
                data=_multipart(variation, job),
                parse_error=self.parse_error,
                spool_above=SPOOL_ABOVE_BYTES,
            )
        elif job.is_edit:
            payload = await self._client.request_json(
                "POST",
                self.url(job, "edits"),
                headers=headers,
                data=_multipart(fields, job),
                parse_error=self.parse_error,
                spool_above=SPOOL_ABOVE_BYTES,
            )
        else:
            payload = await self._client.request_json(
                "POST",
                self.url(job, "generations"),
                headers=headers,
                json=fields,
                parse_error=self.parse_error,
                spool_above=SPOOL_ABOVE_BYTES,
            )
        return await self._result(payload, job)

    async def stream(self, job: ImageJob, partial_images: int) -> AsyncGenerator[StreamItem, None]:
        """GPT image models stream upstream, events passed on as they come; others answer whole."""
        if not job.spec.upstream_streams or job.operation == "variation":
            async for item in whole_answer(await self.generate(job)):
                yield item
            return
        fields = {**self._fields(job), "stream": True, "partial_images": partial_images}
        headers = await self.auth_headers()
        if job.is_edit:
            form = {name: str(value) for name, value in fields.items()}
            items = self._streamer.stream(
                str(self.url(job, "edits")), headers, job, form=form, files=_files(job)
            )
        else:
            items = self._streamer.stream(str(self.url(job, "generations")), headers, job, json_body=fields)
        async for item in items:
            yield item

    async def _result(self, payload: Any, job: ImageJob) -> GenerationResult:
        items = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(items, list) or not items:
            raise Retryable(
                f"deployment {self.name!r} answered without images.", status=502, code="upstream_bad_response"
            )
        fmt = payload.get("output_format") or job.output_format
        images = []
        for item in items:
            if not isinstance(item, dict):
                raise Retryable(
                    f"deployment {self.name!r} sent a malformed image entry.",
                    status=502,
                    code="upstream_bad_response",
                )
            revised = item.get("revised_prompt")
            b64 = item.get("b64_json")
            if isinstance(b64, Spool):
                images.append(GeneratedImage(format=fmt, spool=b64, revised_prompt=revised))
            elif isinstance(b64, str):
                images.append(GeneratedImage(format=fmt, b64=b64, revised_prompt=revised))
            elif isinstance(item.get("url"), str):
                spool = await self._client.download_spool(item["url"])
                images.append(GeneratedImage(format=fmt, spool=spool, revised_prompt=revised))
            else:
                raise Retryable(
                    f"deployment {self.name!r} sent an image with no data.",
                    status=502,
                    code="upstream_bad_response",
                )
        echo = {key: payload[key] for key in _ECHO if key in payload}
        usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else None
        return GenerationResult(images=images, provider=self.name, usage=usage, echo=echo or None)

    async def close(self) -> None:
        await self._client.close()
        await self._streamer.close()


def _files(job: ImageJob) -> list[tuple[str, tuple[str, bytes, str]]]:
    """The multipart files of an edit, for httpx: named as `_multipart` names them."""
    field = "image" if len(job.images) == 1 else "image[]"
    files = [
        (
            field,
            (f"image-{index}.{image.format or 'png'}", image.data or b"", f"image/{image.format or 'png'}"),
        )
        for index, image in enumerate(job.images)
    ]
    if job.mask is not None:
        files.append(("mask", ("mask.png", job.mask.data or b"", "image/png")))
    return files


def _multipart(fields: dict[str, Any], job: ImageJob) -> aiohttp.FormData:
    """Fields as text, then `image` (one) or `image[]` (several) files, then `mask`, as OpenAI's SDK sends."""
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, str(value))
    field = "image" if len(job.images) == 1 else "image[]"
    for index, image in enumerate(job.images):
        fmt = image.format or "png"
        form.add_field(field, image.data or b"", filename=f"image-{index}.{fmt}", content_type=f"image/{fmt}")
    if job.mask is not None:
        form.add_field("mask", job.mask.data or b"", filename="mask.png", content_type="image/png")
    return form
