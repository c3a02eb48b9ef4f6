"""POST /api/images/edits and /api/images/variations (also /v1/...): OpenAI's wire formats.

Edits come as multipart (`image` or `image[]` files, optional `mask`, fields as form values, as the
official SDK sends them) or as JSON with `images: [{"image_url": ...}]`; variations as multipart.
Both become an ImageEditCall and take the generation route's shared path, so rate limits,
reservations, routing, storage, settlement and usage records are exactly those of generations.
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar

import orjson
from fastapi import APIRouter, Depends
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from imagehub.accounts.keys import KeyInfo
from imagehub.api.auth import require_key
from imagehub.api.body import read_json_body, validate_json
from imagehub.api.images import generate_images, images_response
from imagehub.api.jobs import submit_job
from imagehub.api.multipart import Form, is_multipart, read_form
from imagehub.api.prefer import parse_prefer
from imagehub.api.recorded import recorded
from imagehub.api.streams import stream_images
from imagehub.batches.files import FileStore
from imagehub.errors import InvalidRequest
from imagehub.inputs.sources import (
    ImageEditCall,
    ImageSource,
    check_count,
    file_ids,
    json_edit_call,
    text_source,
)
from imagehub.schema.wire import (
    ImageEditForm,
    ImageEditRequest,
    ImagesResponse,
    ImageVariationForm,
)

router = APIRouter(tags=["images"])

Fields = TypeVar("Fields", bound=BaseModel)

_IMAGE_FIELD = re.compile(r"^image(\[\d*\])?$")
_INTEGERS = frozenset({"n", "output_compression", "partial_images", "seed", "safety_tolerance"})
_BOOLEANS = frozenset({"stream", "prompt_upsampling"})


def _form_fields(form: Form, model: type[Fields], file_fields: tuple[str, ...]) -> Fields:
    """Text parts validated like a JSON body, so errors name the field exactly as for JSON."""
    values: dict[str, Any] = {}
    for name, text in form.texts:
        if name in file_fields or _IMAGE_FIELD.match(name):
            continue  # an image given as text (URL or base64): a source, handled by the caller
        if name in values:
            raise InvalidRequest(f"'{name}' was sent more than once.", param=name, code="duplicate_parameter")
        values[name] = _typed(name, text)
    for name, _ in form.files:
        if name in model.model_fields:
            raise InvalidRequest(
                f"'{name}' must be a text field, not a file.", param=name, code="invalid_type"
            )
        if name not in file_fields and not _IMAGE_FIELD.match(name):
            raise InvalidRequest(f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter")
    return validate_json(orjson.dumps(values), model)


def _typed(name: str, text: str) -> Any:
    """Form values are text; numbers and booleans become JSON ones so the wire model can check them."""
    if name in _INTEGERS and re.fullmatch(r"-?\d{1,10}", text.strip()):
        return int(text)
    if name in _BOOLEANS and text.strip().lower() in ("true", "false"):
        return text.strip().lower() == "true"
    return text


def _form_sources(form: Form, allow_array: bool) -> tuple[ImageSource, ...]:
    """`image` once, repeated, or as `image[]`: in arrival order, named `image` or `image[i]`."""
    parts: list[tuple[str, bytes | str]] = [
        (name, data) for name, data in form.files if _IMAGE_FIELD.match(name)
    ]
    parts += [(name, text) for name, text in form.texts if _IMAGE_FIELD.match(name)]
    if not allow_array and (len(parts) > 1 or any(name != "image" for name, _ in parts)):
        raise InvalidRequest("A variation takes exactly one 'image'.", param="image", code="invalid_value")
    if not parts:
        raise InvalidRequest(
            "Missing required parameter: 'image'.", param="image", code="missing_required_parameter"
        )
    check_count(len(parts), "image")
    single = len(parts) == 1 and parts[0][0] == "image"
    sources = []
    for index, (_, value) in enumerate(parts):
        param = "image" if single else f"image[{index}]"
        sources.append(
            ImageSource(param=param, data=value) if isinstance(value, bytes) else text_source(value, param)
        )
    return tuple(sources)


def _form_mask(form: Form) -> ImageSource | None:
    files = [data for name, data in form.files if name == "mask"]
    texts = [text for name, text in form.texts if name == "mask"]
    if len(files) + len(texts) > 1:
        raise InvalidRequest("'mask' was sent more than once.", param="mask", code="duplicate_parameter")
    if files:
        return ImageSource(param="mask", data=files[0])
    return text_source(texts[0], "mask") if texts else None


async def parse_edit(request: Request, key: KeyInfo | None = None) -> ImageEditCall:
    """The edit as sent; a JSON edit's `file_id` references are the key's uploaded images (where
    there is no key, as on the engine's own server, file ids are refused)."""
    max_bytes: int = request.app.state.settings.max_upload_bytes
    if not is_multipart(request):
        body = validate_json(await read_json_body(request, max_bytes), ImageEditRequest)
        if key is None:
            return json_edit_call(body)
        files: FileStore = request.app.state.batch_files
        return json_edit_call(body, await files.images(file_ids(body), key.id))
    form = await read_form(request, max_bytes)
    fields = _form_fields(form, ImageEditForm, ("mask",))
    sources = _form_sources(form, allow_array=True)
    return ImageEditCall.create("edit", sources, _form_mask(form), **fields.model_dump(exclude_none=True))


async def _parse_variation(request: Request) -> ImageEditCall:
    form = await read_form(request, request.app.state.settings.max_upload_bytes)
    fields = _form_fields(form, ImageVariationForm, ())
    sources = _form_sources(form, allow_array=False)
    return ImageEditCall.create("variation", sources, None, prompt="", **fields.model_dump(exclude_none=True))


async def _serve(request: Request, key: KeyInfo, operation: Literal["edit", "variation"]) -> Response:
    return await recorded(request, key, lambda context: _edit_or_vary(request, key, operation))


async def _edit_or_vary(request: Request, key: KeyInfo, operation: Literal["edit", "variation"]) -> Response:
    call = await (parse_edit(request, key) if operation == "edit" else _parse_variation(request))
    prefer = parse_prefer(request.headers.getlist("prefer"))
    if prefer.asynchronous:
        return await submit_job(request, key, call, None, prefer)
    if call.stream:
        return await stream_images(request, key, call)
    outcome, headers = await generate_images(request, key, call)
    return images_response(outcome, headers)


async def _create_edit(request: Request, key: KeyInfo = Depends(require_key)) -> Response:
    return await _serve(request, key, "edit")


async def _create_variation(request: Request, key: KeyInfo = Depends(require_key)) -> Response:
    return await _serve(request, key, "variation")


def _multipart_schema(fields: type[BaseModel], files: dict[str, Any]) -> dict[str, Any]:
    schema = fields.model_json_schema()
    schema["properties"] = {**files, **schema.get("properties", {})}
    schema["required"] = [*files.keys() & {"image"}, *schema.get("required", [])]
    return schema


_BINARY = {"type": "string", "format": "binary"}
_EDIT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": _multipart_schema(
                    ImageEditForm,
                    {
                        "image": {"anyOf": [_BINARY, {"type": "array", "items": _BINARY, "maxItems": 16}]},
                        "mask": _BINARY,
                    },
                )
            },
            "application/json": {"schema": ImageEditRequest.model_json_schema()},
        },
    }
}
_VARIATION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": _multipart_schema(ImageVariationForm, {"image": _BINARY})}
        },
    }
}

for _prefix in ("/api", "/v1"):
    router.add_api_route(
        f"{_prefix}/images/edits",
        _create_edit,
        methods=["POST"],
        response_model=ImagesResponse,
        openapi_extra=_EDIT_BODY,
        summary="Edit images: source images (and a mask) and a prompt",
        include_in_schema=_prefix == "/api",
    )
    router.add_api_route(
        f"{_prefix}/images/variations",
        _create_variation,
        methods=["POST"],
        response_model=ImagesResponse,
        openapi_extra=_VARIATION_BODY,
        summary="Create variations of one image (dall-e-2)",
        include_in_schema=_prefix == "/api",
    )
