"""Loopback servers for the URL-fetching tests: an image host with hostile routes, and a tripwire.

Both bind a loopback address of the test's choosing (127.0.0.1, 127.0.0.2, ::1) so tests can put
an allowed and a refused server on the same port, and both run in a thread with their own event
loop, so the hub (another process) and in-process fetchers can reach them alike.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from aiohttp import web


class _Threaded:
    """Runs `self._serve(sock)` on a private event loop in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(64)
        self.port = int(self._sock.getsockname()[1])
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._stop: Callable[[], Awaitable[None]] | None = None

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.netloc}"

    async def _serve(self, sock: socket.socket) -> Callable[[], Awaitable[None]]:
        raise NotImplementedError

    def start(self) -> Self:
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._stop = self._loop.run_until_complete(self._serve(self._sock))
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._thread is None or self._stop is None:
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class Tripwire(_Threaded):
    """Accepts TCP connections, records the peer, and hangs up: proof that nothing connected."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.connections: list[object] = []

    async def _serve(self, sock: socket.socket) -> Callable[[], Awaitable[None]]:
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections.append(writer.get_extra_info("peername"))
            writer.close()

        server = await asyncio.start_server(accepted, sock=sock)

        async def stop() -> None:
            server.close()

        return stop


class ImageHost(_Threaded):
    """Serves registered files, plus redirects, huge, endless and stalling bodies; records paths."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.files: dict[str, tuple[bytes, str]] = {}
        self.paths: list[str] = []

    def put(self, name: str, data: bytes, content_type: str = "image/png") -> str:
        self.files[name] = (data, content_type)
        return f"{self.url}/img/{name}"

    async def _serve(self, sock: socket.socket) -> Callable[[], Awaitable[None]]:
        @web.middleware
        async def record(
            request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            self.paths.append(request.path_qs)
            return await handler(request)

        app = web.Application(middlewares=[record])
        app.router.add_get("/img/{name}", self._file)
        app.router.add_get("/redirect", self._redirect)
        app.router.add_get("/chain/{hops}/{name}", self._chain)
        app.router.add_get("/big", self._big)
        app.router.add_get("/endless", self._endless)
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/status/{code}", self._status)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.2)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        return runner.cleanup

    async def _file(self, request: web.Request) -> web.StreamResponse:
        found = self.files.get(request.match_info["name"])
        if found is None:
            return web.Response(status=404)
        return web.Response(body=found[0], content_type=found[1])

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        status = int(request.query.get("status", "302"))
        return web.Response(status=status, headers={"Location": request.query["to"]})

    async def _chain(self, request: web.Request) -> web.StreamResponse:
        hops, name = int(request.match_info["hops"]), request.match_info["name"]
        target = f"/img/{name}" if hops <= 1 else f"/chain/{hops - 1}/{name}"
        return web.Response(status=302, headers={"Location": target})

    async def _big(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.content_length = 10 * 1024**3
        await response.prepare(request)
        await response.write(b"\x89PNG\r\n\x1a\n" + b"\x00" * 1024)
        await asyncio.sleep(30)
        return response

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b"\x00" * 65536
        try:
            while True:
                await response.write(chunk)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response

    async def _slow(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            while True:
                await response.write(b"\x00")
                await asyncio.sleep(0.2)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response

    async def _status(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=int(request.match_info["code"]), text="nope")
