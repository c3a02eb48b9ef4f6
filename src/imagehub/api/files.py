"""GET /api/images/files/<name>: serve stored images to anyone holding a valid signed URL.

No API key: browsers and downstream services fetch these directly. The HMAC signature and
expiry are the access control.
"""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from imagehub.errors import NotFound
from imagehub.storage import FileStore, UrlSigner

router = APIRouter(tags=["images"])


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
    path, content_type = found
    expires = int(request.query_params["expires"])
    return FileResponse(
        path,
        media_type=content_type,
        headers={"Cache-Control": f"private, max-age={max(0, expires - int(now))}, immutable"},
    )
