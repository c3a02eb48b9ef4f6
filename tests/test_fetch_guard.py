"""The URL fetcher, in process: every internal range refused before a connection is attempted.

A socket-level guard fails any connect() to a non-loopback address, and names are resolved by an
injected table (literal addresses by the system's numeric parser only), so these tests send no
packet beyond 127.0.0.1 even if the code under test were wrong.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterator

import pytest

from imagehub.errors import InvalidRequest
from imagehub.inputs.fetch import ByteBudget, ImageFetcher, Resolve, system_resolve
from imagehub.inputs.netguard import AddressPolicy, refusal_reason
from tests.image_host import ImageHost, Tripwire
from tests.payloads import png

IMAGE = png(32, 32)


@pytest.fixture
def egress(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Every connect() to a non-loopback address is recorded and refused; tests assert none."""
    attempts: list[object] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def allowed(address: object) -> bool:
        if not isinstance(address, tuple):
            return True  # AF_UNIX
        host = str(address[0]).split("%")[0]
        if ipaddress.ip_address(host).is_loopback:
            return True
        attempts.append(address)
        return False

    def connect(self: socket.socket, address: object) -> None:
        if not allowed(address):
            raise ConnectionRefusedError("egress blocked by the test")
        real_connect(self, address)  # type: ignore[arg-type]

    def connect_ex(self: socket.socket, address: object) -> int:
        if not allowed(address):
            return 111
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield attempts
    assert attempts == [], f"connections left loopback: {attempts}"


def table(names: dict[str, list[str]], calls: list[str] | None = None) -> Resolve:
    """Names from `names`; anything else only if it is a literal address (never a DNS query)."""

    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host in names:
            return names[host]
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        return [str(info[4][0]) for info in infos]

    return resolve


def fetch(
    fetcher: ImageFetcher, url: str, max_bytes: int = 1 << 20, budget: ByteBudget | None = None
) -> bytes:
    return asyncio.run(fetcher.fetch(url, param="image[1]", max_bytes=max_bytes, budget=budget))


def refused(fetcher: ImageFetcher, url: str, **kwargs: object) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        fetch(fetcher, url, **kwargs)  # type: ignore[arg-type]
    assert caught.value.status == 400 and caught.value.param == "image[1]"
    return caught.value


@pytest.fixture
def host() -> Iterator[ImageHost]:
    with ImageHost("127.0.0.1") as server:
        server.put("a.png", IMAGE)
        yield server


@pytest.fixture
def tripwire() -> Iterator[Tripwire]:
    with Tripwire("127.0.0.2") as wire:
        yield wire


def allow_loopback_host(**kwargs: object) -> ImageFetcher:
    """Operators' allowlist in action: 127.0.0.1 (the test's image host) and nothing else."""
    return ImageFetcher(AddressPolicy.from_setting("127.0.0.1"), resolve=table({}), **kwargs)  # type: ignore[arg-type]


# --- every range, as literal addresses --------------------------------------------------------------

HOSTILE_ADDRESSES = [
    ("http://127.0.0.1/a.png", "loopback"),
    ("http://127.255.255.254/", "loopback"),
    ("http://2130706433/", "loopback"),  # 127.0.0.1 in decimal
    ("http://0x7f000001/", "loopback"),
    ("http://017700000001/", "loopback"),
    ("http://127.1/", "loopback"),
    ("http://[::1]:8080/", "loopback"),
    ("http://10.0.0.1/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://192.168.1.1/", "private"),
    ("https://192.168.1.1:8443/", "private"),
    ("http://[fc00::1]/", "private"),
    ("http://[fd12:3456::1]/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://169.254.170.2/v2/credentials", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://100.64.0.1/", "CGNAT"),
    ("http://100.127.255.254/", "CGNAT"),
    ("http://224.0.0.1/", "multicast"),
    ("http://239.255.255.250:1900/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "reserved"),
    ("http://192.0.2.1/", "private"),  # documentation range
    ("http://198.18.0.1/", "private"),  # benchmarking range
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped loopback"),
    ("http://[::ffff:169.254.169.254]/", "IPv4-mapped link-local"),
    ("http://[::ffff:10.0.0.1]/", "IPv4-mapped private"),
    ("http://[64:ff9b::a9fe:a9fe]/", "NAT64 link-local"),
    ("http://[64:ff9b:1::1]/", "local-use NAT64"),
    ("http://[2002:7f00:1::]/", "6to4 loopback"),
    ("http://[2002:a00:1::]/", "6to4 private"),
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fefe]/", "Teredo"),
    ("http://[::7f00:1]/", "reserved"),  # IPv4-compatible
    ("http://[fec0::1]/", "site-local"),
    ("http://[2001:db8::1]/", "private"),
    ("http://[100::1]/", "reserved"),
]


@pytest.mark.parametrize(("url", "reason"), HOSTILE_ADDRESSES)
def test_internal_addresses_are_refused(egress: list[object], url: str, reason: str) -> None:
    error = refused(ImageFetcher(resolve=table({})), url)
    assert error.code == "image_url_refused"
    assert f"in a refused range: {reason}" in error.message


HOSTILE_NAMES = {
    "metadata.google.internal": ["169.254.169.254"],
    "intranet.example": ["10.20.30.40"],
    "v6.example": ["fd00::5"],
    "mixed.example": ["93.184.216.34", "10.1.2.3"],  # one internal answer refuses the name
    "mapped.example": ["::ffff:192.168.0.1"],
}


@pytest.mark.parametrize("name", sorted(HOSTILE_NAMES))
def test_names_resolving_inside_are_refused(egress: list[object], name: str) -> None:
    calls: list[str] = []
    error = refused(ImageFetcher(resolve=table(HOSTILE_NAMES, calls)), f"http://{name}/a.png")
    assert (
        error.code == "image_url_refused" and f"{name} resolves to an address in a refused" in error.message
    )
    assert calls == [name]


def test_localhost_is_resolved_by_the_system_and_refused(egress: list[object]) -> None:
    with Tripwire("127.0.0.1") as wire:
        error = refused(ImageFetcher(), f"http://localhost:{wire.port}/a.png")
        assert error.code == "image_url_refused" and "loopback" in error.message
        assert wire.connections == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/_x",
        "http:///a.png",
        "http://user:secret@example.com/a.png",
        "http://example.com/" + "a" * 9000,
    ],
)
def test_bad_urls_are_refused_unresolved(egress: list[object], url: str) -> None:
    calls: list[str] = []
    error = refused(ImageFetcher(resolve=table({}, calls)), url)
    assert error.code == "invalid_image_url"
    assert calls == []


def test_public_addresses_pass_the_policy() -> None:
    for text in (
        "8.8.8.8",
        "93.184.216.34",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::",
    ):
        assert refusal_reason(ipaddress.ip_address(text)) is None, text


def test_allowlist_entries() -> None:
    policy = AddressPolicy.from_setting(" 10.0.0.0/8, images.corp ,*.svc.local, [fd00::1], ")
    assert policy.check("x", ipaddress.ip_address("10.9.8.7")) is None
    assert policy.check("x", ipaddress.ip_address("11.0.0.1")) is None  # public anyway
    assert policy.check("x", ipaddress.ip_address("192.168.0.1")) == "private"
    assert policy.check("images.corp", ipaddress.ip_address("192.168.0.1")) is None
    assert policy.check("IMAGES.CORP.", ipaddress.ip_address("127.0.0.1")) is None
    assert policy.check("a.svc.local", ipaddress.ip_address("172.16.0.1")) is None
    assert policy.check("svc.local", ipaddress.ip_address("172.16.0.1")) == "private"
    assert policy.check("x", ipaddress.ip_address("fd00::1")) is None
    assert policy.check("x", ipaddress.ip_address("fd00::2")) == "private"


# --- the positive path needs the allowlist: the test host is on 127.0.0.1 ---------------------------


def test_allowlisted_host_is_fetched(egress: list[object], host: ImageHost) -> None:
    assert fetch(allow_loopback_host(), f"{host.url}/img/a.png") == IMAGE
    assert host.paths == ["/img/a.png"]


def test_not_allowlisted_no_request_reaches_the_host(egress: list[object], host: ImageHost) -> None:
    error = refused(ImageFetcher(resolve=table({})), f"{host.url}/img/a.png")
    assert error.code == "image_url_refused"
    assert host.paths == []


def test_allowlisted_name_and_wildcard(egress: list[object], host: ImageHost) -> None:
    names = {"img.internal": ["127.0.0.1"], "a.cdn.internal": ["127.0.0.1"]}
    fetcher = ImageFetcher(AddressPolicy.from_setting("img.internal,*.cdn.internal"), resolve=table(names))
    assert fetch(fetcher, f"http://img.internal:{host.port}/img/a.png") == IMAGE
    assert fetch(fetcher, f"http://a.cdn.internal:{host.port}/img/a.png") == IMAGE


def test_content_type_is_not_trusted_either_way(egress: list[object], host: ImageHost) -> None:
    """The fetcher returns bytes; the decoder decides. A PNG labelled text/plain still arrives."""
    host.put("plain.txt", IMAGE, "text/plain")
    assert fetch(allow_loopback_host(), f"{host.url}/img/plain.txt") == IMAGE


# --- redirects: each hop checked again, at most three -----------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_within_allowed_hosts(egress: list[object], host: ImageHost, status: int) -> None:
    assert fetch(allow_loopback_host(), f"{host.url}/redirect?to=/img/a.png&status={status}") == IMAGE


def test_three_redirects_are_followed_four_are_not(egress: list[object], host: ImageHost) -> None:
    assert fetch(allow_loopback_host(), f"{host.url}/chain/3/a.png") == IMAGE
    error = refused(allow_loopback_host(), f"{host.url}/chain/4/a.png")
    assert error.code == "too_many_redirects"


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[::ffff:169.254.169.254]/",
        "http://10.0.0.1/",
        "http://0x7f000002/",  # 127.0.0.2, not on the allowlist
    ],
)
def test_redirect_into_internal_ranges_is_refused(egress: list[object], host: ImageHost, target: str) -> None:
    error = refused(allow_loopback_host(), f"{host.url}/redirect?to={target}")
    assert error.code == "image_url_refused"


def test_redirect_to_an_unlisted_loopback_server_never_connects(
    egress: list[object], host: ImageHost, tripwire: Tripwire
) -> None:
    for target in (tripwire.url, f"http://evil.test:{tripwire.port}/"):
        fetcher = ImageFetcher(
            AddressPolicy.from_setting("127.0.0.1"), resolve=table({"evil.test": ["127.0.0.2"]})
        )
        error = refused(fetcher, f"{host.url}/redirect?to={target}")
        assert error.code == "image_url_refused"
    assert tripwire.connections == []


def test_redirect_to_another_scheme_is_refused(egress: list[object], host: ImageHost) -> None:
    error = refused(allow_loopback_host(), f"{host.url}/redirect?to=file:///etc/passwd")
    assert error.code == "invalid_image_url"


# --- DNS rebinding: the address checked is the address connected to ----------------------------------


def _pair() -> tuple[ImageHost, Tripwire]:
    """An image host on 127.0.0.2 and a tripwire on 127.0.0.1, on the same port."""
    for _ in range(20):
        good = ImageHost("127.0.0.2")
        try:
            return good, Tripwire("127.0.0.1", good.port)
        except OSError:
            good._sock.close()
    raise RuntimeError("no free port pair")


def test_rebinding_cannot_move_the_connection(egress: list[object]) -> None:
    """First answer 127.0.0.2 (allowlisted), every later one 127.0.0.1 (the target): never used."""
    good, wire = _pair()
    with good, wire:
        good.put("a.png", IMAGE)
        calls: list[str] = []

        async def rebinding(host: str, port: int) -> list[str]:
            calls.append(host)
            return ["127.0.0.2"] if len(calls) == 1 else ["127.0.0.1"]

        fetcher = ImageFetcher(AddressPolicy.from_setting("127.0.0.2"), resolve=rebinding)
        # Two redirects back to the same name: aiohttp connects three times, the name is resolved once.
        assert fetch(fetcher, f"http://rebind.test:{good.port}/chain/2/a.png") == IMAGE
        assert calls == ["rebind.test"]
        assert len(good.paths) == 3
        assert wire.connections == []


def test_rebinding_the_other_way_is_refused_before_connecting(egress: list[object]) -> None:
    good, wire = _pair()
    with good, wire:
        fetcher = ImageFetcher(
            AddressPolicy.from_setting("127.0.0.2"), resolve=table({"rebind.test": ["127.0.0.1"]})
        )
        assert refused(fetcher, f"http://rebind.test:{good.port}/img/a.png").code == "image_url_refused"
        assert wire.connections == [] and good.paths == []


# --- bodies: size caps while streaming, one deadline, failures -------------------------------------


def test_declared_oversize_is_refused_before_reading(egress: list[object], host: ImageHost) -> None:
    error = refused(allow_loopback_host(), f"{host.url}/big")
    assert error.code == "image_too_large"


def test_endless_body_is_cut_at_the_cap(egress: list[object], host: ImageHost) -> None:
    error = refused(allow_loopback_host(), f"{host.url}/endless", max_bytes=256 * 1024)
    assert error.code == "image_too_large"


def test_shared_budget_caps_the_request(egress: list[object], host: ImageHost) -> None:
    error = refused(allow_loopback_host(), f"{host.url}/img/a.png", budget=ByteBudget(10))
    assert error.code == "image_too_large"


def test_stalling_body_hits_the_deadline(egress: list[object], host: ImageHost) -> None:
    error = refused(allow_loopback_host(timeout_seconds=1.0), f"{host.url}/slow")
    assert error.code == "image_fetch_timeout"


@pytest.mark.parametrize("code", [404, 500])
def test_error_statuses_are_400s(egress: list[object], host: ImageHost, code: int) -> None:
    error = refused(allow_loopback_host(), f"{host.url}/status/{code}")
    assert error.code == "image_fetch_failed" and f"HTTP {code}" in error.message


def test_nothing_listening_is_a_400(egress: list[object]) -> None:
    with Tripwire("127.0.0.1") as wire:
        port = wire.port
    error = refused(allow_loopback_host(), f"http://127.0.0.1:{port}/a.png")
    assert error.code == "image_fetch_failed"


def test_system_resolver_returns_literals_as_they_are() -> None:
    assert asyncio.run(system_resolve("127.0.0.1", 80)) == ["127.0.0.1"]
    assert asyncio.run(system_resolve("2130706433", 80)) == ["127.0.0.1"]
