"""One pooled aiohttp session per deployment, and the HTTP failure mapping all adapters share."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from yarl import URL

from imagehub.payloads.budget import ANSWERS
from imagehub.payloads.jsonstream import JSONSpooler, MalformedJSON
from imagehub.payloads.spool import TAKE_TIMEOUT_SECONDS, Spool
from imagehub.upstream.providers.errors import (
    ClientFault,
    DeploymentFault,
    ModelGone,
    ProviderError,
    Retryable,
)

#: Error codes with which a 404 means "no such model": OpenAI's, and Google's status name.
#: aiohttp stops reading a response's socket once twice this much waits unread. When hundreds of
#: big answers land in the same second, the rest of each then waits in the kernel's socket buffer
#: (not in the hub's memory) until its request reads on: at 300 in flight with 2.5 MB answers,
#: peak RSS went from 514 to 281 MB against aiohttp's default of 64 KB (bench/RESULTS.md).
READ_BUFFER_BYTES = 1 << 14
MODEL_NOT_FOUND_CODES = frozenset({"model_not_found", "not_found"})


@dataclass(frozen=True, slots=True)
class UpstreamErrorInfo:
    """An upstream's error body, read by the provider that knows its shape."""

    message: str
    code: str | None = None
    param: str | None = None
    type: str | None = None


ErrorParser = Callable[[int, Any], UpstreamErrorInfo]


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class UpstreamClient:
    """A pooled session with the deployment's timeout; every failure becomes a ProviderError.

    `max_connections` 0 (the default) leaves the pool unbounded: an image call holds its
    connection for seconds, so a capped pool caps the hub. Limits belong to the router (slots.py).
    """

    def __init__(
        self,
        *,
        label: str,
        timeout_seconds: float,
        secrets: tuple[str, ...] = (),
        max_connections: int = 0,
        retry_statuses: frozenset[int] = frozenset({408, 429}),
    ) -> None:
        self.label = label
        self._retry_statuses = retry_statuses  # 4xx statuses worth another try; 5xx always are
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds, sock_connect=min(10.0, timeout_seconds))
        self._secrets = tuple(secret for secret in secrets if secret)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                json_serialize=lambda o: orjson.dumps(o).decode(),
                read_bufsize=READ_BUFFER_BYTES,
            )
        return self._session

    def add_secret(self, secret: str) -> None:
        """One more value never to show in an error message (a key known after construction)."""
        if secret:
            self._secrets = (*self._secrets, secret)

    def session(self) -> aiohttp.ClientSession:
        """The pooled session, for helpers that stream (result downloads) instead of parsing JSON."""
        return self._get_session()

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    async def request_json(
        self,
        method: str,
        url: str | URL,
        *,
        headers: Mapping[str, str],
        parse_error: ErrorParser,
        json: Any = None,
        data: aiohttp.FormData | None = None,
        content: bytes | None = None,
        spool_above: int | None = None,
    ) -> Any:
        """Send one request and return its parsed JSON body, or raise a classified ProviderError.

        `content` is a body sent byte for byte with the caller's headers (a signed request).
        `spool_above`: a successful answer is read as it arrives, and each of its strings longer
        than this many bytes (an image's base64) comes back as a `Spool`, never as one big str;
        while the hub's answer budget is spent, reading pauses (the upstream's socket fills up
        and TCP slows it down) instead of bytes piling up in memory.
        """
        session = self._get_session()
        spooler: JSONSpooler | None = None
        try:
            # orjson's bytes keep their 4 KB working buffer; a copy holds only the body, and the
            # body lives as long as the call (seconds to a minute, thousands at once).
            body = bytes(memoryview(orjson.dumps(json))) if json is not None else content
            send_headers = dict(headers)
            if json is not None:
                send_headers["Content-Type"] = "application/json"
            async with session.request(
                method, url, data=body if body is not None else data, headers=send_headers
            ) as response:
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if spool_above is not None and 200 <= status < 300:
                    spooler = JSONSpooler(spool_above)
                    length = response.content_length or 0
                    if length > spool_above:  # small answers hold nothing
                        await ANSWERS.prepay(length, TAKE_TIMEOUT_SECONDS, spooler.share)
                    try:
                        async for chunk in response.content.iter_any():
                            await spooler.feed(chunk)
                    finally:
                        ANSWERS.refund(spooler.share)
                    raw = b""
                else:
                    raw = await response.read()
        except BaseException as error:
            if spooler is not None:
                spooler.close()
            raise self._transport_error(error) from None
        if spooler is not None:
            try:
                return spooler.finish()
            except MalformedJSON:
                spooler.close()
                raise Retryable(
                    f"{self.label} sent a malformed answer.", status=502, code="upstream_bad_response"
                ) from None
        try:
            payload = orjson.loads(raw) if raw else None
            del raw  # a big answer exists once as bytes, then once as strings: never both for long
        except orjson.JSONDecodeError:
            payload = None
            if 200 <= status < 300:
                raise Retryable(
                    f"{self.label} sent a malformed answer.", status=502, code="upstream_bad_response"
                ) from None
        if 200 <= status < 300:
            if payload is None:
                raise Retryable(
                    f"{self.label} sent an empty answer.", status=502, code="upstream_bad_response"
                )
            return payload
        raise self._classify(status, payload, retry_after, parse_error)

    def _transport_error(self, error: BaseException) -> BaseException:
        """What a failed exchange raises: a classified ProviderError, or the error itself."""
        if isinstance(error, TimeoutError):
            return Retryable(
                f"{self.label} did not answer in time.", status=504, code="upstream_timeout", timeout=True
            )
        if isinstance(error, aiohttp.ClientPayloadError):
            return Retryable(
                f"{self.label} dropped the connection mid-answer.",
                status=502,
                code="upstream_connection_error",
            )
        if isinstance(error, MalformedJSON):
            return Retryable(
                f"{self.label} sent a malformed answer.", status=502, code="upstream_bad_response"
            )
        if isinstance(error, (aiohttp.ClientConnectionError, aiohttp.ClientOSError, ConnectionError)):
            return Retryable(
                f"{self.label} could not be reached.", status=502, code="upstream_connection_error"
            )
        return error

    def classify(
        self, status: int, payload: Any, retry_after: float | None, parse_error: ErrorParser
    ) -> ProviderError:
        """The ProviderError for an upstream's error answer, also for calls made by another client."""
        return self._classify(status, payload, retry_after, parse_error)

    def _classify(
        self, status: int, payload: Any, retry_after: float | None, parse_error: ErrorParser
    ) -> ProviderError:
        info = parse_error(status, payload)
        message, code = self.redact(info.message or f"HTTP {status}"), info.code
        if status >= 500 or status in self._retry_statuses:
            return Retryable(f"{self.label}: {message}", status=status, code=code, retry_after=retry_after)
        if status == 404 and code in MODEL_NOT_FOUND_CODES:
            return ModelGone(
                f"{self.label} does not know the model ({status}): {message}", status=404, code=code
            )
        if status in (401, 403, 404):
            # Our credentials or our model mapping are wrong: the client did nothing wrong.
            return DeploymentFault(
                f"{self.label} refused the hub ({status}): {message}", status=status, code=code
            )
        return ClientFault(
            message,
            status=status if 400 <= status < 500 else 400,
            code=code,
            param=info.param,
            type_=info.type or "invalid_request_error",
        )

    async def download(self, url: str) -> bytes:
        """Fetch an image an OpenAI-compatible upstream answered with a URL instead of base64."""
        session = self._get_session()
        try:
            async with session.get(url) as response:
                if response.status != 200:
                    raise Retryable(
                        f"{self.label} image download failed ({response.status}).",
                        status=502,
                        code="upstream_bad_response",
                    )
                return await response.read()
        except TimeoutError:
            raise Retryable(
                f"{self.label} image download timed out.", status=504, code="upstream_timeout", timeout=True
            ) from None
        except aiohttp.ClientError:
            raise Retryable(
                f"{self.label} image download failed.", status=502, code="upstream_connection_error"
            ) from None

    async def download_spool(self, url: str) -> Spool:
        """`download`, but the image goes to a raw spool as it arrives instead of into memory."""
        session = self._get_session()
        spool = Spool(raw=True)
        try:
            async with session.get(url) as response:
                if response.status != 200:
                    raise Retryable(
                        f"{self.label} image download failed ({response.status}).",
                        status=502,
                        code="upstream_bad_response",
                    )
                async for chunk in response.content.iter_any():
                    await spool.append(chunk)
        except BaseException as error:
            spool.close()
            if isinstance(error, TimeoutError):
                raise Retryable(
                    f"{self.label} image download timed out.",
                    status=504,
                    code="upstream_timeout",
                    timeout=True,
                ) from None
            if isinstance(error, aiohttp.ClientError):
                raise Retryable(
                    f"{self.label} image download failed.", status=502, code="upstream_connection_error"
                ) from None
            raise
        return spool

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


__all__ = ["ErrorParser", "ProviderError", "UpstreamClient", "UpstreamErrorInfo", "parse_retry_after"]
