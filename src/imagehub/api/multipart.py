"""Read a multipart/form-data body with hard limits, and split it into text fields and files.

Starlette's parser (python-multipart underneath) with caps on files, fields and field size; the
body itself is counted as it streams in, so an oversized upload is refused at the cap instead of
after it has been spooled to disk.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from imagehub.api.body import PayloadTooLarge, UnsupportedMediaType
from imagehub.api.disconnect import ClientDisconnected
from imagehub.errors import InvalidRequest

MAX_FILES = 17  # 16 images and a mask
MAX_FIELDS = 32
MAX_FIELD_BYTES = 256 * 1024  # a 32,000-character prompt in any script fits


@dataclass(slots=True)
class Form:
    """Parts in arrival order: text values and file contents, by field name.

    `filenames` holds the name the client gave each file field's first file, where it gave one.
    """

    texts: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[str, bytes]] = field(default_factory=list)
    filenames: dict[str, str] = field(default_factory=dict)


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.", code="payload_too_large")


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "multipart/form-data"


async def _capped(request: Request, max_bytes: int) -> AsyncGenerator[bytes, None]:
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(max_bytes)
            yield chunk
    except ClientDisconnect:
        raise ClientDisconnected(
            "The client closed the connection mid-body.", code="client_disconnected"
        ) from None


async def read_form(request: Request, max_bytes: int) -> Form:
    """The parsed form, or 413 (too big), 415 (not multipart) or 400 (malformed) before any work."""
    if not is_multipart(request):
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        raise UnsupportedMediaType(
            f"Content-Type must be multipart/form-data, not {content_type or 'missing'!r}.",
            code="unsupported_media_type",
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    parser = MultiPartParser(
        request.headers,
        _capped(request, max_bytes),
        max_files=MAX_FILES,
        max_fields=MAX_FIELDS,
        max_part_size=MAX_FIELD_BYTES,
    )
    try:
        parsed = await parser.parse()
    except MultiPartException as error:
        raise InvalidRequest(
            f"The multipart body was refused: {error.message}", code="invalid_multipart"
        ) from None
    form = Form()
    try:
        for name, value in parsed.multi_items():
            if isinstance(value, UploadFile):
                form.files.append((name, await value.read()))
                if value.filename:
                    form.filenames.setdefault(name, value.filename)
            else:
                form.texts.append((name, value))
    finally:
        await parsed.close()
    return form
