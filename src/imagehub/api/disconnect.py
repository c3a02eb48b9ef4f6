"""Stop working for a client that has hung up.

uvicorn does not cancel a request's handler when its client disconnects: it only answers the
next `receive()` with `http.disconnect`. Waiting for that message beside the work, and cancelling
the work when it comes, drops a generation still queued for the local engine and abandons an
upstream call, instead of spending a model's time on an answer nobody will read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request
from starlette.types import Receive

from imagehub.errors import HubError

T = TypeVar("T")


class ClientDisconnected(HubError):
    """Nobody reads this answer; 499 is what proxies log for it."""

    status = 499
    type = "invalid_request_error"


async def _until_disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass  # the rest of a body already read: keep listening


async def cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await `work` (after the body has been read); cancel it if the client disconnects first."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.create_task(_until_disconnected(request.receive))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    raise ClientDisconnected(
        "The client closed the connection before the images were ready.", code="client_disconnected"
    )
