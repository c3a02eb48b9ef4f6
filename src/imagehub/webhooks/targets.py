"""Webhook target URLs under the SSRF guard: checked when registered, and again at every send.

A target is resolved once per attempt and every answer vetted by the AddressPolicy; the
connection is then pinned to those vetted addresses, so a name that re-resolves to an internal
address between the check and the connection (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from imagehub.errors import InvalidRequest
from imagehub.inputs.netguard import AddressPolicy

MAX_URL_LENGTH = 2048


class TargetRefused(InvalidRequest):
    """A webhook URL the hub will not call (400 when registering; a failed attempt when sending)."""


def parse_target(text: str) -> URL:
    if len(text) > MAX_URL_LENGTH:
        raise TargetRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.", param="url")
    try:
        url = URL(text)
    except (ValueError, TypeError):
        raise TargetRefused("The URL is malformed.", param="url", code="invalid_url") from None
    if url.scheme not in ("http", "https") or not url.raw_host:
        raise TargetRefused("Webhook URLs must be http(s) URLs with a host.", param="url", code="invalid_url")
    if url.user is not None or url.password is not None:
        raise TargetRefused("Webhook URLs may not carry credentials.", param="url", code="invalid_url")
    return url


async def vetted_addresses(url: URL, policy: AddressPolicy) -> list[str]:
    """The target's addresses, each allowed by `policy`; raises TargetRefused otherwise."""
    host = (url.raw_host or "").lower().rstrip(".").strip("[]")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, url.port, type=socket.SOCK_STREAM)
    except OSError:
        raise TargetRefused(f"The host {host!r} could not be resolved.", param="url") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    for answer in addresses:
        reason = policy.check(host, ipaddress.ip_address(answer.split("%")[0]))
        if reason is not None:
            raise TargetRefused(
                f"{host} is in a refused range ({reason}); webhook targets must be public hosts "
                "unless the operator allowlists them (IMAGEHUB_WEBHOOK_ALLOWLIST).",
                param="url",
                code="webhook_url_refused",
            )
    if not addresses:
        raise TargetRefused(f"The host {host!r} could not be resolved.", param="url")
    return addresses


class PinnedResolver(AbstractResolver):
    """Answers aiohttp's lookups with the addresses vetted for this attempt, and nothing else."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in self.addresses
        ]

    async def close(self) -> None:
        return None
