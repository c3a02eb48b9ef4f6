"""Download a vendor's result URL: streaming, size-capped, only to hosts the provider declares.

Most vendors answer with a short-lived URL (BFL's expires in ten minutes, Ideogram's and fal's
sooner or later) instead of bytes. The URL comes from the vendor's answer, never from the client,
and even so it is fetched only when its host is one the adapter declares (or the deployment's own
base URL): a vendor answer cannot point the hub at an internal address. Redirects are not
followed for the same reason. The body is read in chunks and abandoned past the cap, so a huge
or endless answer costs a bounded buffer. An expired URL (403, 404 or 410) is a retryable
failure: a new job gives a new URL.
"""

from __future__ import annotations

import aiohttp
from yarl import URL

from imagehub.payloads.spool import Spool
from imagehub.upstream.providers.errors import Retryable

#: The most bytes one result image may have (a 4K PNG is ~25 MB).
MAX_RESULT_BYTES = 64 * 1024 * 1024
_CHUNK = 256 * 1024
_EXPIRED = frozenset({401, 403, 404, 410})


def host_allowed(url: str | URL, *, hosts: tuple[str, ...], origin: URL) -> bool:
    """https on a declared host (`.bfl.ai` also matches subdomains), or the deployment's own origin."""
    target = URL(url) if isinstance(url, str) else url
    if not target.is_absolute() or target.host is None:
        return False
    if (target.scheme, target.host, target.port) == (origin.scheme, origin.host, origin.port):
        return True
    if target.scheme != "https":
        return False
    host = target.host.lower()
    return any(host == h.lstrip(".") or (h.startswith(".") and host.endswith(h)) for h in hosts)


class ResultDownloader:
    """Fetches result URLs for one deployment through its pooled session."""

    def __init__(
        self, *, label: str, hosts: tuple[str, ...], origin: URL, max_bytes: int = MAX_RESULT_BYTES
    ) -> None:
        self.label = label
        self.hosts = hosts
        self.origin = origin
        self.max_bytes = max_bytes

    def allowed(self, url: str | URL) -> bool:
        return host_allowed(url, hosts=self.hosts, origin=self.origin)

    async def fetch(self, session: aiohttp.ClientSession, url: str) -> Spool:
        """The image, in a raw spool (memory up to the tier, then a file; see payloads/)."""
        spool = Spool(raw=True)
        try:
            await self._fetch_into(spool, session, url)
        except BaseException:
            spool.close()
            raise
        return spool

    async def _fetch_into(self, spool: Spool, session: aiohttp.ClientSession, url: str) -> None:
        if not self.allowed(url):
            raise Retryable(
                f"{self.label} answered with a result on a host it does not declare.",
                status=502,
                code="upstream_bad_response",
            )
        try:
            async with session.get(url, allow_redirects=False) as response:
                if response.status in _EXPIRED:
                    raise Retryable(
                        f"{self.label}: the result URL expired before it could be downloaded.",
                        status=502,
                        code="upstream_result_expired",
                    )
                if response.status != 200:
                    raise Retryable(
                        f"{self.label} result download failed ({response.status}).",
                        status=502,
                        code="upstream_bad_response",
                    )
                if (response.content_length or 0) > self.max_bytes:
                    raise self._too_big()
                async for chunk in response.content.iter_chunked(_CHUNK):
                    if spool.size + len(chunk) > self.max_bytes:
                        raise self._too_big()
                    await spool.append(chunk)
        except TimeoutError:
            raise Retryable(
                f"{self.label} result download timed out.", status=504, code="upstream_timeout", timeout=True
            ) from None
        except aiohttp.ClientError:
            raise Retryable(
                f"{self.label} result download failed.", status=502, code="upstream_connection_error"
            ) from None

    def _too_big(self) -> Retryable:
        return Retryable(
            f"{self.label} result is larger than {self.max_bytes} bytes.",
            status=502,
            code="upstream_bad_response",
        )


def image_format(data: bytes, default: str = "png") -> str:
    """The format of an image by its first bytes: the vendor's Content-Type is not always right."""
    if data.startswith(b"\x89PNG"):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    head = data[:256].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml")):
        return "svg"
    return default
