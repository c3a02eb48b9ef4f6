"""A batch input file, line by line: which lines become jobs, and the error line for each other.

A line is OpenAI's `{"custom_id", "method": "POST", "url", "body"}`; its body must pass the same
wire and catalog validation as a synchronous request of the batch's endpoint: a generation's
JSON, or an edit's JSON form (`images: [{"image_url": ...}]`, URLs or data: URLs, read when the
line runs, through the same SSRF guard). What fails is answered in the error file in OpenAI's
shape (`response.status_code` 400 and an error body), and the rest of the batch runs.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from imagehub.catalog import Catalog
from imagehub.errors import HubError
from imagehub.inputs.sources import Uploads, file_ids, json_edit_call
from imagehub.schema.wire import ImageEditRequest, ImageGenerationRequest
from imagehub.service.validation import validate_generation

MAX_LINES = 50_000
GENERATIONS = "/v1/images/generations"
EDITS = "/v1/images/edits"


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    custom_id: str
    request: ImageGenerationRequest
    model: str
    size: str | None


def error_line(
    custom_id: str | None, status: int, code: str, message: str, param: str | None = None
) -> dict[str, Any]:
    """One line of the error file, as OpenAI writes it."""
    return {
        "id": f"batch_req_{secrets.token_hex(12)}",
        "custom_id": custom_id,
        "response": {
            "status_code": status,
            "request_id": None,
            "body": {
                "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
            },
        },
        "error": {"code": code, "message": message},
    }


def _wire_error(error: ValidationError) -> tuple[str, str | None]:
    first = error.errors()[0]
    param = ".".join(str(part) for part in first.get("loc", ())) or None
    return f"{first.get('msg', 'invalid value')}" + (f" ('{param}')" if param else ""), param


def _check(
    number: int, raw: bytes, endpoint: str, catalog: Catalog, seen: set[str], uploads: Uploads
) -> Line | dict[str, Any]:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return error_line(None, 400, "invalid_json", f"Line {number} is not valid JSON.")
    if not isinstance(document, dict):
        return error_line(None, 400, "invalid_json", f"Line {number} is not a JSON object.")
    custom_id = document.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return error_line(None, 400, "missing_custom_id", f"Line {number} has no 'custom_id'.", "custom_id")
    if custom_id in seen:
        return error_line(
            custom_id,
            400,
            "duplicate_custom_id",
            f"'custom_id' {custom_id!r} repeats an earlier line.",
            "custom_id",
        )
    seen.add(custom_id)
    if str(document.get("method", "")).upper() != "POST":
        return error_line(custom_id, 400, "invalid_method", "Batch lines must use method POST.", "method")
    if document.get("url") != endpoint:
        return error_line(
            custom_id, 400, "invalid_url", f"Every line of this batch must have url {endpoint!r}.", "url"
        )
    body = document.get("body")
    if not isinstance(body, dict):
        return error_line(custom_id, 400, "invalid_body", "'body' must be a JSON object.", "body")
    try:
        request = (
            json_edit_call(ImageEditRequest.model_validate(body), uploads)
            if endpoint == EDITS
            else ImageGenerationRequest.model_validate(body)
        )
    except ValidationError as invalid:
        message, param = _wire_error(invalid)
        return error_line(custom_id, 400, "invalid_value", message, param)
    except HubError as error:
        return error_line(custom_id, error.status, error.code or error.type, error.message, error.param)
    if request.stream:
        return error_line(custom_id, 400, "unsupported_parameter", "Batch lines cannot stream.", "stream")
    try:
        job = validate_generation(catalog, request)
    except HubError as error:
        return error_line(custom_id, error.status, error.code or error.type, error.message, error.param)
    return Line(number, custom_id, request, job.spec.name, job.size)


def referenced_files(content: bytes) -> set[str]:
    """Every image file id the edit lines of `content` refer to (lines that do not parse: none)."""
    found: set[str] = set()
    for raw in content.splitlines():
        try:
            found |= file_ids(ImageEditRequest.model_validate(orjson.loads(raw)["body"]))
        except (orjson.JSONDecodeError, ValidationError, KeyError, TypeError):
            continue
    return found


def parse_lines(
    content: bytes, endpoint: str, catalog: Catalog, uploads: Uploads | None = None
) -> tuple[list[Line], list[dict[str, Any]]]:
    """(valid lines, error lines). Blank lines are skipped; numbering is 1-based.

    `uploads`: the key's image files that edit lines name by file id (see `referenced_files`).
    """
    valid: list[Line] = []
    invalid: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        checked = _check(number, raw, endpoint, catalog, seen, uploads or {})
        (valid if isinstance(checked, Line) else invalid).append(checked)  # type: ignore[arg-type]
    return valid, invalid
