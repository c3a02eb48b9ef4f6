"""OpenAI's server-sent events for a streamed request, framed by sse-starlette.

Each event goes out as `event: <type>` and `data: <json>`, the way OpenAI's API sends them (the
SDKs read the type from the JSON). The response keeps proxies from buffering (sse-starlette sets
`X-Accel-Buffering: no` and `Cache-Control: no-store`), pings idle connections, and notices a
client that hangs up. Whatever ends the response, the stream's books are closed afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import orjson
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from imagehub.concurrency.completion import run_to_completion
from imagehub.payloads.spool import spool_text
from imagehub.service.streaming import GenerationStream

#: Called with the completed events as SSE once the request is settled, before the last goes out.
OnSettled = Callable[[bytes], Awaitable[None]]
#: Called once the response is over, whatever ended it: was the request settled in full.
OnClose = Callable[[bool], Awaitable[None]]
PING_SECONDS = 10


def image_event(kind: str, payload: Mapping[str, object]) -> ServerSentEvent:
    """One event as OpenAI frames it: `event: <type>`, `data: <json>`. Shared with the engine."""
    return ServerSentEvent(orjson.dumps(payload, default=spool_text).decode(), event=kind, sep="\n")


class ClosingEventResponse(EventSourceResponse):
    """Events, then `on_close` once the response is over, however it ended.

    Also when the events never started to iterate (a client gone between the handler's return
    and the first byte), so whatever the events held is given back in every case. `on_close`
    runs to its end even if the response is cancelled. Shared with the engine.
    """

    def __init__(
        self,
        events: AsyncIterator[ServerSentEvent],
        on_close: Callable[[], Awaitable[None]],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(events, headers=dict(headers or {}), ping=PING_SECONDS, sep="\n")
        self._close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            done = await run_to_completion(self._close())
            if done.cancelled:
                raise asyncio.CancelledError
            done.result()


class ImageEventResponse(ClosingEventResponse):
    def __init__(
        self,
        stream: GenerationStream,
        headers: Mapping[str, str],
        *,
        on_settled: OnSettled | None = None,
        on_close: OnClose | None = None,
    ) -> None:
        self._stream = stream
        self._on_settled = on_settled
        self._on_close = on_close
        self._completed: list[bytes] = []
        super().__init__(self._frames(), self._finish, headers)

    async def _frames(self) -> AsyncIterator[ServerSentEvent]:
        async for kind, payload in self._stream.events():
            event = image_event(kind, payload)
            if self._on_settled is not None and kind.endswith(".completed"):
                self._completed.append(event.encode())
                if self._stream.finished:  # the last one: settled, so a replay may have it now
                    await self._on_settled(b"".join(self._completed))
            yield event

    async def _finish(self) -> None:
        await self._stream.close()
        if self._on_close is not None:
            await self._on_close(self._stream.settled)
