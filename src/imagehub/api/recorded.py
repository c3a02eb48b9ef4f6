"""Every image request ends with exactly one usage record, whatever ends it.

The service records what it sees (refusals, reservations settled or released). Some requests end
before the service or beside it: a body that cannot be read or parsed, a rate limit, an
Idempotency-Key conflict or replay, a client that hangs up while the body arrives. `recorded`
wraps a whole endpoint and writes the record for any request that reaches its end without one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from imagehub.accounts.books import RequestContext
from imagehub.accounts.keys import KeyInfo
from imagehub.service.generation import GenerationService


def request_context(request: Request) -> RequestContext:
    """The request's one RequestContext, made on first use (its id is the request's own)."""
    context: RequestContext | None = getattr(request.state, "context", None)
    if context is None:
        context = RequestContext(
            request_id=request.state.request_id, client_did=getattr(request.state, "client_did", None)
        )
        request.state.context = context
    return context


async def recorded(
    request: Request, key: KeyInfo, serve: Callable[[RequestContext], Awaitable[Response]]
) -> Response:
    """Run `serve`; if the request ends without a usage record, write the one it deserves.

    A response that was served without a record is an Idempotency-Key replay: on record as
    `replayed`, at no charge.
    """
    context = request_context(request)
    service: GenerationService = request.app.state.generation
    try:
        response = await serve(context)
    except BaseException as error:
        if not context.recorded:
            await _record_failure(service, key, context, error)
        raise
    if not context.recorded:
        await service.record_outcome(key, context, response.status_code, None, state="replayed")
    return response


async def _record_failure(
    service: GenerationService, key: KeyInfo, context: RequestContext, error: BaseException
) -> None:
    # Recording runs to completion; if a cancel arrives meanwhile, the original error still goes on.
    with contextlib.suppress(asyncio.CancelledError):
        await service.record_rejected(key, context, error)
