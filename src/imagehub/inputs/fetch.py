"""Fetch a client-supplied image URL without letting the client aim the hub at internal hosts.

Each host name is resolved once; every address it resolves to must pass the AddressPolicy, and
the connection goes to exactly those addresses (aiohttp gets a resolver that knows nothing else),
so a name that answers differently the second time (DNS rebinding) cannot slip through.
Redirects are followed by hand, each one checked again, at most `max_redirects`. The body is read
with a byte cap and the whole fetch under one deadline; whether it is an image is decided later,
by decoding it, never by Content-Type.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from imagehub.errors import InvalidRequest
from imagehub.inputs.netguard import AddressPolicy

Resolve = Callable[[str, int], Awaitable[list[str]]]

MAX_URL_LENGTH = 8192
MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HEADERS = {"User-Agent": "imagehub-fetch/1", "Accept": "image/*", "Accept-Encoding": "identity"}


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host` (literal addresses come back as is)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(slots=True)
class ByteBudget:
    """What one request may still read from URLs in all, shared by its concurrent fetches."""

    remaining: int

    def take(self, count: int, param: str) -> None:
        self.remaining -= count
        if self.remaining < 0:
            raise InvalidRequest(
                f"'{param}': the request's images together exceed the hub's size limit.",
                param=param,
                code="image_too_large",
            )


class _PinnedResolver(AbstractResolver):
    """Hands aiohttp only addresses the fetcher has already checked; any other name fails."""

    def __init__(self) -> None:
        self.pins: dict[str, list[str]] = {}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self.pins.get(_normal(host))
        if not addresses:
            raise OSError(f"{host} was not checked")
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in addresses
        ]

    async def close(self) -> None:
        return None


def _normal(host: str) -> str:
    return host.lower().rstrip(".")


def _refused(param: str, message: str, code: str = "image_url_refused") -> InvalidRequest:
    return InvalidRequest(f"Refused to fetch '{param}': {message}", param=param, code=code)


def _failed(param: str, message: str, code: str = "image_fetch_failed") -> InvalidRequest:
    return InvalidRequest(f"Could not fetch '{param}': {message}", param=param, code=code)


class ImageFetcher:
    """Downloads image URLs for edits under the AddressPolicy; one short-lived session per URL."""

    def __init__(
        self,
        policy: AddressPolicy | None = None,
        *,
        timeout_seconds: float = 20.0,
        max_redirects: int = MAX_REDIRECTS,
        resolve: Resolve | None = None,
    ) -> None:
        self.policy = policy or AddressPolicy()
        self.timeout_seconds = timeout_seconds
        self.max_redirects = max_redirects
        self._resolve = resolve or system_resolve

    async def fetch(self, url: str, *, param: str, max_bytes: int, budget: ByteBudget | None = None) -> bytes:
        """The body at `url`, or an InvalidRequest (400) naming `param` and why."""
        try:
            async with asyncio.timeout(self.timeout_seconds):
                return await self._fetch(url, param, max_bytes, budget)
        except TimeoutError:
            raise _failed(
                param, f"no complete answer within {self.timeout_seconds:g} seconds.", "image_fetch_timeout"
            ) from None

    async def _fetch(self, url: str, param: str, max_bytes: int, budget: ByteBudget | None) -> bytes:
        resolver = _PinnedResolver()
        connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, force_close=True)
        async with aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,
        ) as session:
            target = self._parse(url, param)
            for _ in range(self.max_redirects + 1):
                host = _normal(target.raw_host or "")
                if host not in resolver.pins:
                    resolver.pins[host] = await self._checked_addresses(host, target.port or 0, param)
                try:
                    async with session.get(target, allow_redirects=False, headers=_HEADERS) as response:
                        if response.status in _REDIRECTS:
                            target = self._next_hop(target, response.headers.get("Location"), param)
                            continue
                        if response.status != 200:
                            raise _failed(param, f"the server answered HTTP {response.status}.")
                        return await _read_capped(response, param, max_bytes, budget)
                except aiohttp.ClientError as error:
                    raise _failed(param, f"the connection failed ({type(error).__name__}).") from None
            raise _refused(param, f"more than {self.max_redirects} redirects.", "too_many_redirects")

    def _parse(self, text: str, param: str) -> URL:
        if len(text) > MAX_URL_LENGTH:
            raise _refused(param, f"the URL is longer than {MAX_URL_LENGTH} characters.", "invalid_image_url")
        try:
            url = URL(text)
        except (ValueError, TypeError):
            raise _refused(param, "the URL is malformed.", "invalid_image_url") from None
        if url.scheme not in ("http", "https"):
            raise _refused(param, "only http and https URLs are fetched.", "invalid_image_url")
        if not url.raw_host:
            raise _refused(param, "the URL has no host.", "invalid_image_url")
        if url.user is not None or url.password is not None:
            raise _refused(param, "URLs with credentials are not fetched.", "invalid_image_url")
        return url.with_fragment(None)

    def _next_hop(self, current: URL, location: str | None, param: str) -> URL:
        if not location:
            raise _failed(param, "a redirect without a Location header.")
        try:
            joined = current.join(URL(location))
        except (ValueError, TypeError):
            raise _refused(param, "a redirect to a malformed URL.", "invalid_image_url") from None
        return self._parse(str(joined), param)

    async def _checked_addresses(self, host: str, port: int, param: str) -> list[str]:
        """Resolve once and vet every answer: one internal address refuses the whole name."""
        try:
            answers = await self._resolve(host, port)
        except OSError:
            raise _failed(param, f"the host {host!r} could not be resolved.") from None
        if not answers:
            raise _failed(param, f"the host {host!r} could not be resolved.")
        checked: list[str] = []
        for answer in answers:
            try:
                address = ipaddress.ip_address(answer)
            except ValueError:
                raise _refused(param, f"{host!r} resolved to something that is not an address.") from None
            reason = self.policy.check(host, address)
            if reason is not None:
                where = f"{host} is" if _is_literal(host) else f"{host} resolves to an address"
                raise _refused(
                    param, f"{where} in a refused range: {reason}. Image URLs must point to public hosts."
                )
            checked.append(str(address))
        return checked


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _read_capped(
    response: aiohttp.ClientResponse, param: str, max_bytes: int, budget: ByteBudget | None
) -> bytes:
    too_large = InvalidRequest(
        f"'{param}' is larger than {max_bytes} bytes.", param=param, code="image_too_large"
    )
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise too_large
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > max_bytes:
            raise too_large
        if budget is not None:
            budget.take(len(chunk), param)
    return bytes(body)
