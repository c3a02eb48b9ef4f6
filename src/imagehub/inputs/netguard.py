"""Which network addresses the hub may fetch client-supplied image URLs from.

A URL in a request makes the hub itself open a connection, so without this check any client could
make it read cloud metadata (169.254.169.254), an admin port on localhost or a box on the private
network. Only globally routable unicast addresses pass, plus what the operator allowlists.
Addresses that embed an IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo) are judged by it too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


def _v4_reason(ip: ipaddress.IPv4Address) -> str | None:
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip in _CGNAT:
        return "CGNAT (shared address space)"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "non-public"
    return None


def _embedded(ip: ipaddress.IPv6Address, v4: ipaddress.IPv4Address, kind: str) -> str | None:
    reason = _v4_reason(v4)
    return f"{kind} {reason} ({v4})" if reason else None


def _v6_reason(ip: ipaddress.IPv6Address) -> str | None:
    if ip.ipv4_mapped is not None:
        return _embedded(ip, ip.ipv4_mapped, "IPv4-mapped")
    if ip in _NAT64:
        return _embedded(ip, ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64")
    if ip in _NAT64_LOCAL:
        return "local-use NAT64"
    if ip.teredo is not None:
        return "Teredo"
    if ip.sixtofour is not None and (reason := _embedded(ip, ip.sixtofour, "6to4")):
        return reason
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local or ip.scope_id:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_site_local:
        return "site-local"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "non-public"
    return None


def refusal_reason(ip: IPAddress) -> str | None:
    """Why the hub must not connect to `ip` (e.g. "loopback"), or None for a public address."""
    if isinstance(ip, ipaddress.IPv4Address):
        return _v4_reason(ip)
    return _v6_reason(ip)


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Public addresses always; internal ones only when the operator allowlists the host or network."""

    allowed_hosts: frozenset[str] = frozenset()
    allowed_suffixes: tuple[str, ...] = ()
    allowed_networks: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> AddressPolicy:
        """Entries are host names (`images.internal`), `*.suffix` wildcards, addresses or CIDRs."""
        hosts: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith("*."):
                suffixes.append(entry[1:])
            else:
                hosts.add(entry)
        return cls(frozenset(hosts), tuple(suffixes), tuple(networks))

    @classmethod
    def from_setting(cls, value: str | None) -> AddressPolicy:
        return cls.from_entries((value or "").split(","))

    def host_allowed(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self.allowed_hosts or any(name.endswith(suffix) for suffix in self.allowed_suffixes)

    def check(self, host: str, ip: IPAddress) -> str | None:
        """The reason to refuse connecting to `ip` for `host`, or None when it may be used."""
        reason = refusal_reason(ip)
        if reason is None or self.host_allowed(host):
            return None
        if any(ip.version == network.version and ip in network for network in self.allowed_networks):
            return None
        return reason
