"""Shared machinery for fake upstream providers.

Each fake is a real HTTP server on 127.0.0.1 running in its own thread and event loop, so the hub
(a separate process) and synchronous test code can both talk to it. Every request is recorded, and
tests can queue faults that the next requests consume, to drive the hub's error handling.
"""

from __future__ import annotations

import asyncio
import base64
import email.message
import email.utils
import functools
import hashlib
import io
import json
import socket
import struct
import threading
import traceback
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, ClassVar, Literal, Self

from aiohttp import web
from PIL import Image

FaultKind = Literal[
    "status",
    "rate_limited",
    "timeout",
    "reset",
    "malformed",
    "slow_body",
    "content_policy",
    "partially_filtered",
    "no_image",
    "thoughts",
    "held",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Fault kinds that do not replace the response up front: the route handler sees them (via
# `request[FAULT]`) and shapes its own answer, because only it knows the provider's format.
HANDLER_FAULTS = frozenset({"content_policy", "partially_filtered", "no_image", "thoughts"})


# --------------------------------------------------------------------------------------------------
# Images


_PALETTE: tuple[tuple[int, int, int], ...] = (
    (220, 60, 60),
    (60, 160, 90),
    (60, 90, 220),
    (230, 180, 40),
    (150, 70, 200),
    (40, 180, 190),
    (240, 120, 30),
    (120, 120, 120),
)

_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}
MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "webp": "image/webp"}


@functools.lru_cache(maxsize=128)
def _encoded(width: int, height: int, colour: tuple[int, int, int], fmt: str, transparent: bool) -> bytes:
    """Encode a solid image once per (size, colour, format): big sizes take ~0.2 s to encode."""
    mode = "RGBA" if transparent and fmt != "jpeg" else "RGB"
    fill = (*colour, 0) if mode == "RGBA" else colour
    image = Image.new(mode, (width, height), fill)
    # A darker square in the top-left corner so orientation and cropping are visible.
    corner = max(1, min(width, height) // 8)
    shade = tuple(c // 3 for c in colour)
    image.paste((*shade, 255) if mode == "RGBA" else shade, (0, 0, corner, corner))
    buffer = io.BytesIO()
    options: dict[str, Any] = {"compress_level": 1} if fmt == "png" else {}
    image.save(buffer, _PIL_FORMATS[fmt], **options)
    return buffer.getvalue()


def _png_with_text(png: bytes, text: str) -> bytes:
    """Insert a tEXt chunk after IHDR so images with different seeds differ byte-wise for free."""
    data = b"imagehub-fake\x00" + text.encode("latin-1", "replace")
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + data) & 0xFFFFFFFF)
    ihdr_end = 8 + 4 + 4 + 13 + 4  # signature + IHDR length, type, data, crc
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def _jpeg_with_comment(jpeg: bytes, text: str) -> bytes:
    """Insert a COM segment after SOI: the JPEG counterpart of `_png_with_text`."""
    data = text.encode("latin-1", "replace")[:60000]
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(data) + 2) + data + jpeg[2:]


def image_bytes(
    width: int, height: int, *, seed: str = "", fmt: str = "png", transparent: bool = False
) -> bytes:
    """A real, decodable image; identical bytes for identical arguments, different for other seeds.

    The colour comes from the seed's hash and the seed is embedded as metadata (PNG/JPEG), so tests
    can tell images apart and compare a direct upstream call with one routed through the hub.
    """
    fmt = fmt.lower()
    if fmt not in _PIL_FORMATS:
        fmt = "png"
    digest = hashlib.sha256(seed.encode()).digest()
    colour = _PALETTE[digest[0] % len(_PALETTE)]
    encoded = _encoded(width, height, colour, "jpeg" if fmt == "jpg" else fmt, transparent)
    if not seed:
        return encoded
    if fmt == "png":
        return _png_with_text(encoded, seed)
    if fmt in ("jpeg", "jpg"):
        return _jpeg_with_comment(encoded, seed)
    return encoded


def png_bytes(width: int, height: int, seed: str = "") -> bytes:
    """A real PNG of the given size (see `image_bytes`)."""
    return image_bytes(width, height, seed=seed)


def png_b64(width: int, height: int, seed: str = "") -> str:
    """`png_bytes` as base64 text, the way both providers embed images in JSON."""
    return base64.b64encode(png_bytes(width, height, seed)).decode("ascii")


def parse_size(size: object, default: tuple[int, int] = (1024, 1024)) -> tuple[int, int]:
    """Parse "WxH"; anything else (missing, "auto", junk) gives the default."""
    if isinstance(size, str) and "x" in size:
        w, _, h = size.lower().partition("x")
        if w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0:
            return int(w), int(h)
    return default


# --------------------------------------------------------------------------------------------------
# Recorded requests


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class RecordedRequest:
    """Everything a test may want to assert about a request the hub sent upstream."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased; repeated headers joined with ", "
    json: Any
    form: dict[str, list[str | UploadedFile]] | None
    raw: bytes

    def files(self, name: str) -> list[UploadedFile]:
        """The uploaded files of one multipart field (e.g. "image[]")."""
        return [v for v in (self.form or {}).get(name, []) if isinstance(v, UploadedFile)]

    def field(self, name: str) -> str | None:
        """The first text value of one multipart field."""
        for value in (self.form or {}).get(name, []):
            if isinstance(value, str):
                return value
        return None


def parse_multipart(raw: bytes, boundary: str) -> dict[str, list[str | UploadedFile]]:
    """Parse multipart/form-data from the raw body we already read (aiohttp can't re-read it)."""
    form: dict[str, list[str | UploadedFile]] = {}
    delimiter = b"--" + boundary.encode("latin-1")
    for chunk in raw.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        part = chunk.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, _, body = part.partition(b"\r\n\r\n")
        headers = email.message.Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            header_name, sep, header_value = line.partition(":")
            if sep:
                headers[header_name.strip()] = header_value.strip()
        raw_name = headers.get_param("name", header="content-disposition")
        name = email.utils.collapse_rfc2231_value(raw_name) if raw_name else ""
        filename = headers.get_filename()
        value: str | UploadedFile
        if filename is not None or headers.get("content-type", "").startswith(("image/", "application/")):
            value = UploadedFile(filename, headers.get("content-type"), body)
        else:
            value = body.decode("utf-8", "replace")
        form.setdefault(name, []).append(value)
    return form


# --------------------------------------------------------------------------------------------------
# Faults


@dataclass(frozen=True)
class Fault:
    """Something to go wrong with one upcoming request; build with the classmethods.

    Faults are queued with `FakeServer.enqueue` and consumed FIFO, one per incoming request. A fault
    restricted with `.on("edits")` is only consumed by a request whose path contains that text.
    """

    kind: FaultKind
    status_code: int | None = None
    body: Any = None
    headers: dict[str, str] | None = None
    seconds: float = 0.0
    count: int = 0
    reason: str | None = None
    retry_after: float | None = None
    path: str | None = None
    gate: threading.Event | None = field(default=None, compare=False)

    def on(self, path_contains: str) -> Fault:
        """Only apply to requests whose path contains this text (e.g. ":predict", "/edits")."""
        return replace(self, path=path_contains)

    @classmethod
    def status(cls, code: int, body: Any = None, headers: dict[str, str] | None = None) -> Fault:
        """Answer with this HTTP status; body defaults to the provider's own error shape for it."""
        return cls("status", status_code=code, body=body, headers=headers)

    @classmethod
    def rate_limited(cls, retry_after: float | None = None) -> Fault:
        """429 in the provider's shape, with `Retry-After: <int seconds>` when given."""
        return cls("rate_limited", status_code=429, retry_after=retry_after)

    @classmethod
    def timeout(cls, seconds: float) -> Fault:
        """Sleep, then answer normally: the client is expected to give up first."""
        return cls("timeout", seconds=seconds)

    @classmethod
    def held(cls, gate: threading.Event, status: int | None = None) -> Fault:
        """Hold the request until the test sets `gate` (at most 120 s), then answer `status` in
        the provider's error shape, or normally when None: the test decides when a call ends."""
        return cls("held", status_code=status, gate=gate)

    @classmethod
    def reset(cls) -> Fault:
        """Close the TCP connection without any HTTP response."""
        return cls("reset")

    @classmethod
    def malformed(cls) -> Fault:
        """200 with a JSON content type and a body that is not JSON."""
        return cls("malformed")

    @classmethod
    def slow_body(cls, seconds: float) -> Fault:
        """Send headers and half the normal body, stall, then send the rest."""
        return cls("slow_body", seconds=seconds)

    @classmethod
    def content_policy(cls) -> Fault:
        """The provider's own safety rejection (shape depends on provider, endpoint and model)."""
        return cls("content_policy")

    @classmethod
    def partially_filtered(cls, k: int) -> Fault:
        """Imagen only: the first k predictions come back as `raiFilteredReason` entries."""
        return cls("partially_filtered", count=k)

    @classmethod
    def no_image(
        cls, finish_reason: str = "IMAGE_SAFETY", text: str | None = "I can't create that."
    ) -> Fault:
        """Gemini only: a candidate with no image part (output blocked, or a words-only reply)."""
        return cls("no_image", reason=finish_reason, body=text)

    @classmethod
    def thoughts(cls) -> Fault:
        """Gemini only: prepend `thought: true` text and image parts, as Gemini 3 Pro Image does."""
        return cls("thoughts")


#: Per-request storage: what the middleware recorded, and a fault left for the route handler.
RECORDED = web.RequestKey("recorded", RecordedRequest)
FAULT = web.RequestKey("fault", Fault)


# --------------------------------------------------------------------------------------------------
# Server


class FakeServer:
    """An aiohttp app on 127.0.0.1 in a background thread, recording requests and injecting faults.

    Subclasses add routes in `setup_routes` and describe their error format in `error_response`.
    """

    #: How long stop() lets in-flight handlers (e.g. a pending timeout fault) finish before cancelling.
    shutdown_grace: ClassVar[float] = 0.2

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        #: Tracebacks of exceptions raised inside the fake itself (should stay empty).
        self.errors: list[str] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ---- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. http://127.0.0.1:54321."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def port(self) -> int:
        """The bound port (only valid once started)."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._port

    def start(self) -> Self:
        """Bind a free port and serve from a daemon thread; returns once accepting connections."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = int(sock.getsockname()[1])
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        async def serve() -> None:
            app = web.Application(middlewares=[self._middleware], client_max_size=256 * 1024 * 1024)
            self.setup_routes(app)
            runner = web.AppRunner(
                app, access_log=None, handler_cancellation=True, shutdown_timeout=self.shutdown_grace
            )
            await runner.setup()
            await web.SockSite(runner, sock).start()
            self._runner = runner

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(serve())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"{type(self).__name__}:{self._port}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            self._thread = None
            raise RuntimeError(f"{type(self).__name__} failed to start") from failure[0]
        return self

    def stop(self) -> None:
        """Stop serving, cancel in-flight handlers and join the thread."""
        if self._thread is None or self._loop is None:
            return
        loop, thread = self._loop, self._thread
        if self._runner is not None:
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop)
            try:
                future.result(timeout=5)
            except Exception:
                future.cancel()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        self._thread = None
        self._loop = None
        self._runner = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- test-facing helpers ---------------------------------------------------------------------

    def enqueue(self, *faults: Fault) -> None:
        """Queue faults; each incoming request consumes the first one that applies to its path."""
        with self._lock:
            self._faults.extend(faults)

    @property
    def pending_faults(self) -> list[Fault]:
        """Faults not yet consumed (a test can assert this is empty)."""
        with self._lock:
            return list(self._faults)

    def reset(self) -> None:
        """Forget recorded requests and queued faults (state kept by subclasses is untouched)."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self.errors.clear()

    @property
    def last(self) -> RecordedRequest:
        """The most recent request; raises if none arrived."""
        with self._lock:
            if not self.requests:
                raise AssertionError(f"{type(self).__name__} received no requests")
            return self.requests[-1]

    def requests_to(self, path_contains: str) -> list[RecordedRequest]:
        """Recorded requests whose path contains this text."""
        with self._lock:
            return [r for r in self.requests if path_contains in r.path]

    # ---- subclass hooks --------------------------------------------------------------------------

    def setup_routes(self, app: web.Application) -> None:
        """Add the provider's routes."""
        raise NotImplementedError

    def error_response(
        self, status: int, message: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        """An error in the provider's own shape."""
        return web.json_response({"error": {"message": message or "error"}}, status=status, headers=headers)

    def rate_limit_response(self, retry_after: float | None) -> web.Response:
        """The provider's 429; subclasses may add provider-specific retry hints."""
        headers = {"Retry-After": str(round(retry_after))} if retry_after is not None else None
        return self.error_response(429, headers=headers)

    # ---- internals -------------------------------------------------------------------------------

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.path is None or fault.path in path:
                    return self._faults.pop(i)
        return None

    @staticmethod
    def _record(request: web.Request, raw: bytes) -> RecordedRequest:
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        form = None
        body_json: Any = None
        if request.content_type == "multipart/form-data":
            boundary = _boundary(request.headers.get("Content-Type", ""))
            form = parse_multipart(raw, boundary) if boundary else {}
        elif raw:
            try:
                body_json = json.loads(raw)
            except ValueError:
                body_json = None
        return RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=headers,
            json=body_json,
            form=form,
            raw=raw,
        )

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await self._serve(request, handler)
        except (web.HTTPException, asyncio.CancelledError):
            raise
        except Exception:
            # A bug in the fake must not pass for a provider 500: keep it where tests can see it.
            with self._lock:
                self.errors.append(traceback.format_exc())
            raise

    async def _serve(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        recorded = self._record(request, raw)
        with self._lock:
            self.requests.append(recorded)
        request[RECORDED] = recorded
        fault = self._take_fault(request.path)
        if fault is not None and fault.kind in HANDLER_FAULTS:
            request[FAULT] = fault
        if fault is None or fault.kind in HANDLER_FAULTS:
            return await handler(request)
        if fault.kind == "status":
            assert fault.status_code is not None
            if fault.body is None:
                return self.error_response(fault.status_code, headers=fault.headers)
            return web.json_response(fault.body, status=fault.status_code, headers=fault.headers)
        if fault.kind == "rate_limited":
            return self.rate_limit_response(fault.retry_after)
        if fault.kind == "reset":
            assert request.transport is not None
            request.transport.abort()
            # Writing to the dead transport raises ConnectionError, which aiohttp swallows quietly.
            return web.Response()
        if fault.kind == "malformed":
            return web.Response(
                status=200,
                body=b'{"created": 1, "data": [{"b64_json": "iVBOR',
                content_type="application/json",
            )
        if fault.kind == "timeout":
            await asyncio.sleep(fault.seconds)
            return await handler(request)
        if fault.kind == "held":
            assert fault.gate is not None
            await asyncio.to_thread(fault.gate.wait, 120)
            if fault.status_code is not None:
                return self.error_response(fault.status_code)
            return await handler(request)
        if fault.kind == "slow_body":
            return await self._slow(request, await handler(request), fault.seconds)
        raise AssertionError(f"unhandled fault {fault}")

    @staticmethod
    async def _slow(request: web.Request, normal: web.StreamResponse, seconds: float) -> web.StreamResponse:
        """Re-send a finished response in two halves with a stall between them."""
        if not isinstance(normal, web.Response) or not isinstance(normal.body, bytes | bytearray):
            return normal
        body = bytes(normal.body)
        stream = web.StreamResponse(status=normal.status, reason=normal.reason)
        for name, value in normal.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding"):
                stream.headers[name] = value
        stream.content_length = len(body)
        half = max(1, len(body) // 2)
        try:
            await stream.prepare(request)
            await stream.write(body[:half])
            await asyncio.sleep(seconds)
            await stream.write(body[half:])
            await stream.write_eof()
        except ConnectionError:
            pass  # the client gave up, as intended
        return stream


def _boundary(content_type: str) -> str | None:
    message = email.message.Message()
    message["content-type"] = content_type
    value = message.get_param("boundary")
    return value if isinstance(value, str) else None


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON response with the compact encoding real APIs use."""
    return web.json_response(payload, status=status, headers=headers, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@dataclass
class FileStore:
    """Bytes served by a fake at GET /files/<name> (OpenAI's `url` responses point here)."""

    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, name: str, data: bytes, content_type: str) -> None:
        with self.lock:
            self.files[name] = (data, content_type)

    def get(self, name: str) -> tuple[bytes, str] | None:
        with self.lock:
            return self.files.get(name)
