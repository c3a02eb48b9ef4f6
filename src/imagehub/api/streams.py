"""`stream: true` on generations and edits: OpenAI's image events instead of one JSON answer.

Everything that can refuse the request (validation, limits, money, the provider's first answer)
happens before the first byte, so a refusal is an ordinary JSON error. The key's concurrency
permit is held until the stream ends.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from imagehub.accounts.idempotency import StoredResponse
from imagehub.accounts.keys import KeyInfo
from imagehub.accounts.ratelimit import rate_limit_headers
from imagehub.api.admission import admit, public_base_url, served_headers
from imagehub.api.disconnect import cancel_on_disconnect
from imagehub.api.idempotent import Claim
from imagehub.api.recorded import request_context
from imagehub.api.sse import ImageEventResponse
from imagehub.schema.wire import ImageGenerationRequest
from imagehub.service.generation import GenerationService
from imagehub.service.streaming import open_stream


async def stream_images(
    request: Request, key: KeyInfo, body: ImageGenerationRequest, claim: Claim | None = None
) -> Response:
    service: GenerationService = request.app.state.generation
    context = request_context(request)
    permit = await admit(request, key, body)
    try:
        opening = open_stream(service, body, key, public_base_url(request), context)
        stream = await cancel_on_disconnect(request, opening)
    except BaseException:
        if claim is not None:
            await claim.free()
        await permit.release()
        raise
    headers = {
        "x-imagehub-provider": stream.provider,
        **rate_limit_headers(permit.state),
        **served_headers(request.app.state.catalog, body.model, stream.job),
    }
    if stream.sandbox:
        headers["x-imagehub-sandbox"] = "true"
    request.state.log = {
        "key_id": key.id,
        "model": context.model,
        "provider": stream.provider,
        "stream": True,
    }
    if stream.job.asked is not None:
        request.state.log["requested_model"] = stream.job.asked.spec.name

    async def on_settled(completed_events: bytes) -> None:
        if claim is not None:
            replay = {**headers, "content-type": "text/event-stream"}
            await claim.keep(StoredResponse(200, replay, completed_events))

    async def on_close(settled: bool) -> None:
        await permit.release()
        if claim is not None and not settled:
            await claim.free()

    return ImageEventResponse(stream, headers, on_settled=on_settled, on_close=on_close)
