"""GET /api/images/files/<name>: serve stored images to anyone holding a valid signed URL.

No API key: browsers and downstream services fetch these directly. The HMAC signature and
expiry are the access control. A single byte range (`Range: bytes=…`) is honoured, so
interrupted downloads of big images can resume; HEAD answers like GET without the body. Whichever
store holds the bytes (this machine's segments, or a bucket shared by every hub), any hub with
the signing secret serves any image.
"""

from __future__ import annotations

import re
import time

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from imagehub.errors import HubError, NotFound
from imagehub.storage import ImageMissing, ImageStore, UrlSigner
from imagehub.storage.base import ACTIVE_TYPES

router = APIRouter(tags=["images"])

# Images up to this size are read whole before answering (locally from the page cache, tens of
# µs, on the event loop; a worker thread's hand-off costs more); bigger ones stream a chunk at a
# time (local files from a worker thread, S3 bodies as they arrive).
INLINE_READ_BYTES = 256 * 1024
_CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
#: A stored image opened as a page (an SVG can carry <script>, handlers, foreign links) runs in a
#: sandbox with no origin, no scripts and nothing fetched: it cannot read the console's key.
IMAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


class RangeNotSatisfiable(HubError):
    status = 416
    type = "invalid_request_error"


def requested_range(request: Request, length: int, etag: str) -> tuple[int, int] | None:
    """The one byte range asked for, as (start, size); None to send the whole image.

    Following RFC 9110: a malformed or multi-range header, or an If-Range that does not match,
    is ignored (whole image); a range starting past the end is 416.
    """
    header = request.headers.get("range")
    if header is None:
        return None
    if_range = request.headers.get("if-range")
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None or (if_range is not None and if_range != etag) or not any(match.groups()):
        return None
    first, last = match.groups()
    if not first:  # the last N bytes
        size = min(int(last), length)
        if size == 0:
            raise _unsatisfiable(length)
        return length - size, size
    start = int(first)
    end = min(int(last), length - 1) if last else length - 1
    if start >= length:
        raise _unsatisfiable(length)
    if end < start:
        return None
    return start, end - start + 1


def _unsatisfiable(length: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"The image is {length} bytes; the requested range is outside it.",
        code="range_not_satisfiable",
        headers={"Content-Range": f"bytes */{length}"},
    )


@router.api_route(
    "/api/images/files/{name}", methods=["GET", "HEAD"], summary="Fetch a generated image by its signed URL"
)
async def get_image_file(request: Request, name: str) -> Response:
    """HEAD answers exactly as GET (status, length, type, range) without reading the image."""
    store: ImageStore = request.app.state.store
    signer: UrlSigner = request.app.state.signer
    if not store.is_valid_name(name):
        raise NotFound("No such image.", code="image_not_found")
    now = time.time()
    signer.verify(name, request.query_params.get("expires"), request.query_params.get("signature"), now)
    found = await store.locate(name)
    if found is None:
        raise NotFound("No such image.", code="image_not_found")
    expires = int(request.query_params["expires"])
    etag = f'"{name.rsplit(".", 1)[0]}"'  # a name is never reused for other bytes
    headers = {
        "Cache-Control": f"private, max-age={max(0, expires - int(now))}, immutable",
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",  # an image is never run as a script or a page
        "Content-Security-Policy": IMAGE_POLICY,
    }
    if found.content_type in ACTIVE_TYPES:  # and a browser saves it rather than opening it at all
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    span = requested_range(request, found.length, etag)
    start, size = span if span is not None else (0, found.length)
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{start + size - 1}/{found.length}"
    if request.method == "HEAD":
        headers["Content-Length"] = str(size)
        return Response(b"", status_code=status, media_type=found.content_type, headers=headers)
    try:
        image = await found.open(start, size)  # before answering: a 404 or 503 can still be sent
    except ImageMissing:
        raise NotFound("No such image.", code="image_not_found") from None
    if size <= INLINE_READ_BYTES:
        content = await image.read()
        return Response(content, status_code=status, media_type=found.content_type, headers=headers)
    headers["Content-Length"] = str(size)
    return StreamingResponse(
        image.chunks(_CHUNK), status_code=status, media_type=found.content_type, headers=headers
    )
