"""Read a JSON request body ourselves: size cap, content type, and OpenAI-shaped errors.

Done by hand rather than by FastAPI's body parameter so every failure (malformed JSON, wrong
type, unknown field, oversize) maps to a precise message, `param` and `code`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from starlette.requests import ClientDisconnect, Request

from imagehub.api.disconnect import ClientDisconnected
from imagehub.errors import HubError, InvalidRequest

Model = TypeVar("Model", bound=BaseModel)

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "bool_type": "a boolean",
    "list_type": "an array",
}


_RANGE_ERRORS = frozenset(
    {
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "too_short",
        "too_long",
        "string_too_short",
        "string_too_long",
        "string_pattern_mismatch",
    }
)


class PayloadTooLarge(HubError):
    status = 413
    type = "invalid_request_error"


class UnsupportedMediaType(HubError):
    status = 415
    type = "invalid_request_error"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _param(loc: tuple[int | str, ...]) -> str:
    """('image', 'list[str]', 2) -> 'image[2]': drop pydantic's union-branch labels."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        elif not name:
            name = part
    return name


def _to_invalid_request(error: ErrorDetails) -> InvalidRequest:
    kind, loc = error["type"], error["loc"]
    param = _param(loc)
    if kind == "json_invalid":
        reason = error.get("ctx", {}).get("error", "syntax error")
        return InvalidRequest(f"The request body is not valid JSON ({reason}).", code="invalid_json")
    if kind in ("model_type", "model_attributes_type") or not param:
        return InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    if kind == "extra_forbidden":
        return InvalidRequest(f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter")
    if kind == "missing":
        return InvalidRequest(
            f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
        )
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return InvalidRequest(
            f"Invalid value for '{param}': {error['input']!r}. Supported values are: {expected}.",
            param=param,
            code="invalid_value",
        )
    if kind in _RANGE_ERRORS:  # pydantic's own words name the bound: "at most 200 characters"
        return InvalidRequest(
            f"Invalid value for '{param}': {error['msg']} (got {repr(error['input'])[:80]}).",
            param=param,
            code="invalid_value",
        )
    wanted = _TYPE_NAMES.get(kind, "a valid value")
    if param == "image":
        wanted = "a string or an array of strings"
    return InvalidRequest(
        f"Invalid type for '{param}': expected {wanted}, but got {_json_kind(error['input'])}.",
        param=param,
        code="invalid_type",
    )


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.", code="payload_too_large")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(
                    f"The request body is larger than {max_bytes} bytes.", code="payload_too_large"
                )
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientDisconnected(
            "The client closed the connection mid-body.", code="client_disconnected"
        ) from None
    return b"".join(chunks)


async def read_json_body(request: Request, max_bytes: int) -> bytes:
    """The raw body of a JSON request, after the content-type and size checks."""
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, not {content_type!r}.", code="unsupported_media_type"
        )
    return await read_body(request, max_bytes)


async def parse_json(request: Request, model: type[Model], max_bytes: int) -> Model:
    return validate_json(await read_json_body(request, max_bytes), model)


def validate_json(body: bytes, model: type[Model]) -> Model:
    if not body.strip():
        raise InvalidRequest("The request body is empty; send a JSON object.", code="empty_body")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # Report a bad document before a bad field, and the most specific branch of a union
        # (`image[1]` rather than `image`).
        errors.sort(key=lambda e: (e["type"] != "json_invalid", e["type"] == "missing", -len(e["loc"])))
        raise _to_invalid_request(errors[0]) from None
