"""OpenAI's Files API, as batches need it: /v1/files (also /api/files).

Upload (multipart `file` + `purpose=batch`, or an image with `purpose=vision` that JSON edits and
edit batch lines name by `file_id`), list, read, download (`/content`) and delete; a key sees
only its own files. Batch output and error files are read the same way.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from imagehub.accounts.keys import KeyInfo
from imagehub.api.auth import require_key
from imagehub.api.multipart import is_multipart, read_form
from imagehub.api.pages import cursor_page
from imagehub.batches.files import UPLOAD_PURPOSES, FileStore
from imagehub.batches.models import BatchFileRow
from imagehub.batches.views import file_object
from imagehub.errors import InvalidRequest, NotFound

router = APIRouter(tags=["batches"])


def _files(request: Request) -> FileStore:
    files: FileStore = request.app.state.batch_files
    return files


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _filename(sent: str | None, default: str) -> str:
    """The name the client gave the file, without any folder part; `default` when it gave none."""
    name = (sent or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:255] or default


async def upload_file(request: Request, key: KeyInfo = Depends(require_key)) -> Response:
    if not is_multipart(request):
        raise InvalidRequest("Upload files as multipart/form-data with 'file' and 'purpose'.", param="file")
    form = await read_form(request, request.app.state.settings.max_upload_bytes)
    purpose = next((text for name, text in form.texts if name == "purpose"), None)
    if purpose not in UPLOAD_PURPOSES:
        raise InvalidRequest(
            f"This hub takes files with purpose {', '.join(map(repr, UPLOAD_PURPOSES))}.",
            param="purpose",
            code="invalid_value",
        )
    content = next((data for name, data in form.files if name == "file"), None)
    if content is None:
        raise InvalidRequest(
            "Missing required parameter: 'file'.", param="file", code="missing_required_parameter"
        )
    filename = _filename(form.filenames.get("file"), "upload.jsonl" if purpose == "batch" else "upload")
    row = await _files(request).create(key.id, purpose, filename, content)
    return _json(file_object(row))


async def _own(request: Request, file_id: str, key: KeyInfo) -> BatchFileRow:
    row = await _files(request).get(file_id, key.id)
    if row is None:
        raise NotFound(f"No file with id '{file_id}'.", param="file_id", code="file_not_found")
    return row


async def get_file(request: Request, file_id: str, key: KeyInfo = Depends(require_key)) -> Response:
    return _json(file_object(await _own(request, file_id, key)))


async def file_content(request: Request, file_id: str, key: KeyInfo = Depends(require_key)) -> Response:
    row = await _own(request, file_id, key)
    jsonl = row.purpose in ("batch", "batch_output")
    return Response(row.content, media_type="application/jsonl" if jsonl else "application/octet-stream")


async def delete_file(request: Request, file_id: str, key: KeyInfo = Depends(require_key)) -> Response:
    if not await _files(request).remove(file_id, key.id):
        raise NotFound(f"No file with id '{file_id}'.", param="file_id", code="file_not_found")
    return _json({"id": file_id, "object": "file", "deleted": True})


async def list_files(
    request: Request, after: str | None = None, limit: int = 20, key: KeyInfo = Depends(require_key)
) -> Response:
    limit = max(1, min(limit, 100))
    rows = await _files(request).page(key.id, after=after, limit=limit + 1)
    return _json(cursor_page([file_object(row) for row in rows[:limit]], len(rows) > limit))


for _base in ("/api/files", "/v1/files"):
    _shown = _base.startswith("/api")
    router.add_api_route(_base, upload_file, methods=["POST"], include_in_schema=_shown)
    router.add_api_route(_base, list_files, methods=["GET"], include_in_schema=_shown)
    router.add_api_route(_base + "/{file_id}", get_file, methods=["GET"], include_in_schema=_shown)
    router.add_api_route(_base + "/{file_id}", delete_file, methods=["DELETE"], include_in_schema=_shown)
    router.add_api_route(
        _base + "/{file_id}/content", file_content, methods=["GET"], include_in_schema=_shown
    )
