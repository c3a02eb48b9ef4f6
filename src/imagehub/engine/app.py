"""The engine's HTTP app: OpenAI's images routes for its one model, probes, and metrics.

`POST /v1/images/generations` (JSON) and `POST /v1/images/edits` (multipart, as the SDK sends
it, or JSON) take the hub's own wire models and catalog checks, `seed` included, so a request
the hub accepted means the same here. `stream: true` answers with OpenAI's SSE events, previews
drawn from the latents. Every answer carries `X-Imagehub-Engine-Load` (requests in the engine),
which a hub reads to prefer the engine with the shortest queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import TypeVar

from fastapi import FastAPI
from sse_starlette import ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagehub import __version__
from imagehub.api.body import read_json_body, validate_json
from imagehub.api.disconnect import cancel_on_disconnect
from imagehub.api.edits import parse_edit
from imagehub.api.errors import install_error_handlers
from imagehub.api.responses import JsonResponse
from imagehub.api.sse import ClosingEventResponse, image_event
from imagehub.config import Settings
from imagehub.engine import wire
from imagehub.engine.runtime import EngineRuntime
from imagehub.errors import HubError, InvalidRequest, NotFound
from imagehub.inputs.decoding import InputLoader
from imagehub.inputs.sources import request_sources
from imagehub.schema.events import PartialImage, StreamItem
from imagehub.schema.images import GeneratedImage, ImageJob
from imagehub.schema.wire import ImageGenerationRequest
from imagehub.upstream.providers.local.provider import LocalProvider
from imagehub.upstream.providers.pixels import DECODES

LOAD_HEADER = "x-imagehub-engine-load"
T = TypeVar("T")
#: Which process answered (a Ray application has several behind one address).
INSTANCE = f"{socket.gethostname()}:{os.getpid()}"


class LoadHeader:
    """Adds the engine's current load to every response's headers (SSE ones included)."""

    def __init__(self, app: ASGIApp, runtime: EngineRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_load(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    *message.get("headers", []),
                    (LOAD_HEADER.encode(), str(self.runtime.in_engine).encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_load)


class EngineRoutes:
    """The handlers, bound to one runtime."""

    def __init__(self, runtime: EngineRuntime, settings: Settings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.inputs = InputLoader.from_settings(settings)

    async def healthz(self) -> Response:
        return JsonResponse({"status": "ok"})

    async def readyz(self) -> Response:
        runtime = self.runtime
        body = {
            "status": "ready" if runtime.ready else ("failed" if runtime.error else "loading"),
            "model": runtime.model,
            "device": runtime.deployment.device,
            "instance": INSTANCE,
            "load": runtime.in_engine,
            "queue_depth": runtime.waiting,
            "max_batch": runtime.deployment.max_batch,
            "queue_size": runtime.deployment.queue_size,
        }
        if runtime.error:
            body["error"] = runtime.error
        return JsonResponse(body, status_code=200 if runtime.ready else 503)

    async def metrics(self) -> Response:
        body, content_type = self.runtime.metrics.render()
        return Response(body, media_type=content_type)

    async def generations(self, request: Request) -> Response:
        body = await read_json_body(request, self.settings.max_upload_bytes)
        return await self._serve(request, validate_json(body, ImageGenerationRequest), "image_generation")

    async def edits(self, request: Request) -> Response:
        return await self._serve(request, await parse_edit(request), "image_edit")

    async def _serve(self, request: Request, call: ImageGenerationRequest, prefix: str) -> Response:
        provider = self.runtime.require()
        job = await self._job(call)
        if call.stream:
            return await self._stream(request, provider, job, call.partial_images or 0, prefix)
        with self.runtime.admitted():
            result = await cancel_on_disconnect(request, self._counted(provider.generate(job)))
        return JsonResponse(wire.images_body(job, result))

    async def _counted(self, work: Awaitable[T]) -> T:
        """`work`, counting an engine_overloaded refusal in the metrics."""
        try:
            return await work
        except HubError as error:
            if error.code == "engine_overloaded":
                self.runtime.metrics.refused.inc()
            raise

    async def _job(self, call: ImageGenerationRequest) -> ImageJob:
        if call.response_format == "url":
            raise InvalidRequest(
                "An engine answers with b64_json only; the hub in front of it stores images for 'url'.",
                param="response_format",
                code="unsupported_value",
            )
        if call.model is None:
            call = call.model_copy(update={"model": self.runtime.model})
        from imagehub.service.validation import validate_generation

        job = validate_generation(self.runtime.catalog, call)
        if job.spec.name != self.runtime.model:
            raise NotFound(
                f"This engine serves {self.runtime.model!r}, not {job.spec.name!r}.",
                param="model",
                code="model_not_found",
            )
        sources, mask = request_sources(call)
        return await self.inputs.load(job, sources, mask) if sources else job

    async def _stream(
        self, request: Request, provider: LocalProvider, job: ImageJob, partial_images: int, prefix: str
    ) -> Response:
        """Wait for the first item before answering, so a refusal is still a plain HTTP error."""
        self.runtime.in_engine += 1
        items = provider.stream(job, partial_images)
        stream = _EngineStream(self.runtime, items)
        try:
            first = await cancel_on_disconnect(request, self._counted(anext(items)))
        except BaseException:
            await stream.release()
            raise
        return stream.response(self._events(job, prefix, first, items))

    async def _events(
        self, job: ImageJob, prefix: str, first: StreamItem, items: AsyncGenerator[StreamItem, None]
    ) -> AsyncIterator[ServerSentEvent]:
        try:
            item = first
            while True:
                if isinstance(item, PartialImage):
                    yield image_event(*wire.partial_event(prefix, job, item))
                elif isinstance(item, GeneratedImage):
                    yield image_event(*wire.completed_event(prefix, job, item))
                try:
                    item = await anext(items)
                except StopAsyncIteration:
                    return
        except HubError as error:
            yield image_event("error", {"type": "error", "error": error.body()["error"]})


class _EngineStream:
    """One streamed request's hold on the engine, given back exactly once however it ends.

    The response releases it after its last byte, and also when it never started to iterate (a
    client that hung up between the first item and the answer), so the load the engine reports
    and the provider's batch slot are never left behind.
    """

    def __init__(self, runtime: EngineRuntime, items: AsyncGenerator[StreamItem, None]) -> None:
        self._runtime = runtime
        self._items = items
        self._held = True

    async def release(self) -> None:
        if self._held:
            self._held = False
            self._runtime.in_engine -= 1
            await self._items.aclose()

    def response(self, events: AsyncIterator[ServerSentEvent]) -> Response:
        return ClosingEventResponse(events, self.release)


def create_engine_app(
    runtime: EngineRuntime, settings: Settings | None = None, *, load: bool = True
) -> ASGIApp:
    """The engine's ASGI app; with `load`, its lifespan loads the weights in the background."""
    settings = settings or Settings()
    DECODES.configure(settings.decode_budget_mb << 20)
    routes = EngineRoutes(runtime, settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loading = asyncio.create_task(runtime.start()) if load else None
        try:
            yield
        finally:
            if loading is not None and not loading.done():
                loading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loading
            await runtime.close()

    app = FastAPI(
        title="imagehub engine",
        version=__version__,
        summary=f"The local engine for {runtime.model}, as its own server.",
        lifespan=lifespan,
        default_response_class=JsonResponse,
    )
    app.state.settings = routes.settings  # what the shared edit parser reads its upload limit from
    install_error_handlers(app)
    app.add_api_route("/healthz", routes.healthz, methods=["GET"], summary="The process is up")
    app.add_api_route("/readyz", routes.readyz, methods=["GET"], summary="Weights loaded, warm-up done")
    app.add_api_route("/metrics", routes.metrics, methods=["GET"], summary="Prometheus metrics")
    app.add_api_route("/v1/images/generations", routes.generations, methods=["POST"], tags=["images"])
    app.add_api_route("/v1/images/edits", routes.edits, methods=["POST"], tags=["images"])
    return LoadHeader(app, runtime)
