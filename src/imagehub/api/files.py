"""GET /api/images/files/<name>: serve stored images to anyone holding a valid signed URL.

No API key: browsers and downstream services fetch these directly. The HMAC signature and
expiry are the access control.
"""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from imagehub.errors import NotFound
from imagehub.storage import FileStore, UrlSigner

router = APIRouter(tags=["images"])

# Images up to this size are read on the event loop (from the page cache, tens of µs); bigger
# ones stream from a worker thread a chunk at a time.
INLINE_READ_BYTES = 256 * 1024
_CHUNK = 256 * 1024


@router.get("/api/images/files/{name}", summary="Fetch a generated image by its signed URL")
async def get_image_file(request: Request, name: str) -> Response:
    store: FileStore = request.app.state.store
    signer: UrlSigner = request.app.state.signer
    if not store.is_valid_name(name):
        raise NotFound("No such image.", code="image_not_found")
    now = time.time()
    signer.verify(name, request.query_params.get("expires"), request.query_params.get("signature"), now)
    found = store.locate(name)
    if found is None:
        raise NotFound("No such image.", code="image_not_found")
    expires = int(request.query_params["expires"])
    headers = {
        "Cache-Control": f"private, max-age={max(0, expires - int(now))}, immutable",
        "ETag": f'"{name.rsplit(".", 1)[0]}"',  # a name is never reused for other bytes
    }
    if found.length <= INLINE_READ_BYTES:
        try:
            content = found.read()
        except FileNotFoundError:  # swept between locate and read
            raise NotFound("No such image.", code="image_not_found") from None
        return Response(content, media_type=found.content_type, headers=headers)
    headers["Content-Length"] = str(found.length)
    return StreamingResponse(found.chunks(_CHUNK), media_type=found.content_type, headers=headers)
