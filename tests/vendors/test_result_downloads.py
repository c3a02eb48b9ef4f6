"""The result downloader on its own, against a real HTTP server on 127.0.0.1: declared hosts only,
no redirects followed, a size cap, and an expired URL told apart from other failures."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from imagehub.upstream.providers.errors import Retryable
from imagehub.upstream.providers.results import ResultDownloader, host_allowed
from tests.fakes.server import FakeServer, png_bytes


class Results(FakeServer):
    def setup_routes(self, app: web.Application) -> None:
        app.router.add_get("/small.png", _small)
        app.router.add_get("/big.png", _big)
        app.router.add_get("/expired.png", _expired)
        app.router.add_get("/moved.png", _moved)


async def _moved(_: web.Request) -> web.Response:
    return web.Response(status=302, headers={"Location": "http://127.0.0.1:9/elsewhere.png"})


async def _small(_: web.Request) -> web.Response:
    return web.Response(body=png_bytes(8, 8), content_type="image/png")


async def _big(_: web.Request) -> web.Response:
    return web.Response(body=png_bytes(8, 8) + b"\0" * 5000, content_type="image/png")


async def _expired(_: web.Request) -> web.Response:
    return web.Response(status=403, text="Request has expired")


@pytest.fixture(scope="module")
def server() -> Iterator[Results]:
    with Results() as running:
        yield running


def _fetch(server: Results, path: str, max_bytes: int = 4096) -> bytes:
    async def run() -> bytes:
        downloader = ResultDownloader(
            label="test", hosts=(".example.ai",), origin=URL(server.url), max_bytes=max_bytes
        )
        async with aiohttp.ClientSession() as session:
            spool = await downloader.fetch(session, f"{server.url}{path}")
        try:
            return spool.decoded()  # the image as it came: a raw spool decodes to itself
        finally:
            spool.close()

    return asyncio.run(run())


def test_declared_hosts_and_the_own_origin_only() -> None:
    origin = URL("http://127.0.0.1:8000/v1").origin()
    allowed = {"https://cdn.example.ai/x.png", "https://example.ai/x.png", "http://127.0.0.1:8000/r/x.png"}
    refused = {
        "http://cdn.example.ai/x.png",  # declared host, but not https
        "https://example.ai.evil.com/x.png",
        "https://notexample.ai/x.png",
        "http://127.0.0.1:8001/x.png",  # the right host, another port
        "http://169.254.169.254/latest/meta-data",
        "/relative.png",
    }
    for url in allowed:
        assert host_allowed(url, hosts=(".example.ai",), origin=origin), url
    for url in refused:
        assert not host_allowed(url, hosts=(".example.ai",), origin=origin), url


def test_a_small_result_downloads(server: Results) -> None:
    assert _fetch(server, "/small.png") == png_bytes(8, 8)


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/big.png", "upstream_bad_response"),  # past the cap
        ("/expired.png", "upstream_result_expired"),
        ("/moved.png", "upstream_bad_response"),  # a redirect is not followed
    ],
)
def test_failures_are_retryable_and_named(server: Results, path: str, code: str) -> None:
    with pytest.raises(Retryable) as caught:
        _fetch(server, path)
    assert caught.value.code == code
    assert not [r for r in server.requests if "elsewhere" in r.path]
