"""OpenAI's streamed image calls: `stream: true` upstream, its events passed on as they arrive.

GPT image models answer a streamed generation or edit with server-sent events:
`image_generation.partial_image` / `image_edit.partial_image` (a preview) and `*.completed` (an
image, with usage). Each becomes a stream item the moment it is read; nothing waits for the
whole answer. Streamed calls go through httpx with httpx-sse, the maintained SSE reader for an
async client (aiohttp has none as well kept); whole answers keep the aiohttp pool.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import httpx
from httpx_sse import EventSource, SSEError

from imagehub.payloads.budget import ANSWERS, Share
from imagehub.payloads.spool import TAKE_TIMEOUT_SECONDS
from imagehub.schema.events import PartialImage, StreamItem
from imagehub.schema.images import GeneratedImage, GenerationResult, ImageJob
from imagehub.upstream.providers.errors import Retryable
from imagehub.upstream.providers.http import ErrorParser, UpstreamClient, parse_retry_after

_ECHO = ("background", "output_format", "size", "quality")


class OpenAIStreamer:
    """One deployment's streamed calls; errors are classified as its whole answers are."""

    def __init__(
        self,
        *,
        name: str,
        client: UpstreamClient,
        parse_error: ErrorParser,
        timeout_seconds: float,
        max_connections: int,
    ) -> None:
        self.name = name
        self._client = client
        self._parse_error = parse_error
        self._timeout = httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds))
        self._limits = httpx.Limits(
            # 0 is "no cap" here as for the aiohttp pool; to httpx it would mean no connection at all.
            max_connections=max_connections or None,
            max_keepalive_connections=max_connections or None,
        )
        self._http: httpx.AsyncClient | None = None

    def _session(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            self._http = httpx.AsyncClient(timeout=self._timeout, limits=self._limits)
        return self._http

    async def stream(
        self,
        url: str,
        headers: dict[str, str],
        job: ImageJob,
        *,
        json_body: dict[str, Any] | None = None,
        form: dict[str, str] | None = None,
        files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
    ) -> AsyncGenerator[StreamItem, None]:
        request = self._session().build_request(
            "POST", url, headers=headers, json=json_body, data=form, files=files
        )
        try:
            response = await self._session().send(request, stream=True)
        except httpx.TimeoutException:
            raise self._timed_out() from None
        except httpx.TransportError:
            raise self._unreachable() from None
        try:
            if response.status_code != 200:
                raise await self._refusal(response)
            async for item in self._items(EventSource(response), job):
                yield item
        finally:
            await response.aclose()

    async def _items(self, source: EventSource, job: ImageJob) -> AsyncGenerator[StreamItem, None]:
        """The stream's items; each image's bytes count against the answer budget while held
        (a partial until it has been passed on, a completed image until the stream ends)."""
        share = Share()
        try:
            async for item in self._counted_items(source, job, share):
                yield item
        finally:
            ANSWERS.give(share.held, share)

    async def _counted_items(
        self, source: EventSource, job: ImageJob, share: Share
    ) -> AsyncGenerator[StreamItem, None]:
        images: list[GeneratedImage] = []
        usage: dict[str, object] | None = None
        echo: dict[str, object] = {}
        try:
            async for event in source.aiter_sse():
                data = event.json() if event.data else {}
                kind = str(data.get("type") or event.event or "")
                if kind == "error" or "error" in data:
                    raise self._client.classify(400, data, None, self._parse_error)
                b64 = data.get("b64_json")
                fmt = str(data.get("output_format") or job.output_format)
                if kind.endswith(".partial_image") and isinstance(b64, str):
                    index = int(data.get("partial_image_index") or 0)
                    await ANSWERS.take(len(b64), TAKE_TIMEOUT_SECONDS, share)
                    yield PartialImage(b64, index, fmt, image_index=len(images))
                    ANSWERS.give(len(b64), share)  # passed on: the client has it
                elif kind.endswith(".completed") and isinstance(b64, str):
                    await ANSWERS.take(len(b64), TAKE_TIMEOUT_SECONDS, share)
                    image = GeneratedImage(format=fmt, b64=b64)
                    images.append(image)
                    usage = _added(usage, data.get("usage"))
                    echo.update({name: data[name] for name in _ECHO if name in data})
                    yield image
        except httpx.TimeoutException:
            raise self._timed_out() from None
        except (httpx.TransportError, SSEError, json.JSONDecodeError):
            raise Retryable(
                f"deployment {self.name!r} broke off its event stream.",
                status=502,
                code="upstream_bad_response",
            ) from None
        if not images:
            raise Retryable(
                f"deployment {self.name!r} ended its stream without an image.",
                status=502,
                code="upstream_bad_response",
            )
        yield GenerationResult(images=images, provider=self.name, usage=usage, echo=echo or None)

    async def _refusal(self, response: httpx.Response) -> Exception:
        raw = await response.aread()
        try:
            payload = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            payload = None
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return self._client.classify(response.status_code, payload, retry_after, self._parse_error)

    def _timed_out(self) -> Retryable:
        return Retryable(
            f"deployment {self.name!r} did not answer in time.",
            status=504,
            code="upstream_timeout",
            timeout=True,
        )

    def _unreachable(self) -> Retryable:
        return Retryable(
            f"deployment {self.name!r} could not be reached.", status=502, code="upstream_connection_error"
        )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()


def _added(total: dict[str, object] | None, usage: object) -> dict[str, object] | None:
    """Token usage summed over a request's completed events (one per image)."""
    if not isinstance(usage, dict):
        return total
    if total is None:
        return dict(usage)
    summed: dict[str, object] = dict(total)
    for name, value in usage.items():
        before = summed.get(name)
        if isinstance(value, int) and isinstance(before, int):
            summed[name] = before + value
        elif isinstance(value, dict) and isinstance(before, dict):
            summed[name] = _added(before, value)
    return summed
