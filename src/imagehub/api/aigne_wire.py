"""AIGNE Hub's image wire format, translated to and from the hub's own request and outcome.

`@aigne/aigne-hub` posts `{"input": {...}, "agent", "options"}` to `/api/v2/image`. Everything
here is translation only: the body becomes an `ImageGenerationRequest` that the generation
service validates exactly as it validates the OpenAI route, and the outcome becomes AIGNE's
`{"images", "usage", "model"}`. No rule about models lives here.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from imagehub.api.body import validate_json
from imagehub.errors import InvalidRequest
from imagehub.payloads.spool import materialize
from imagehub.schema.wire import ImageGenerationRequest
from imagehub.service.generation import GenerationOutcome
from imagehub.storage.filesystem import CONTENT_TYPES

# Fields an AIGNE app may put at the top of `input` as well as in `modelOptions`; the top wins,
# as in AIGNE's own image models. Other top-level keys are the app's context and are ignored.
_TOP_LEVEL_FIELDS = frozenset(
    {
        "size",
        "quality",
        "style",
        "background",
        "output_format",
        "output_compression",
        "moderation",
        "user",
    }
)
# modelOptions that steer the client itself and mean nothing to a hub.
_CLIENT_ONLY_OPTIONS = frozenset({"prefer_input_file_type"})
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


class AigneImageInput(BaseModel):
    """What `input` may hold (documentation; the route reads `input` as a plain object)."""

    prompt: str
    n: int | None = None
    image: list[str | dict[str, str]] | None = Field(
        default=None,
        description="Strings (URL, base64, data: URI), {type: 'file', data, mimeType} or {type: 'url', url}.",
    )
    outputFileType: Literal["url", "file"] | None = Field(
        default="url", description="`url`: a signed hub URL; `file`: base64 in `data`."
    )
    modelOptions: dict[str, Any] | None = Field(
        default=None,
        description="`model` (bare or `provider/model`) and image fields: size, quality, style, ...",
    )


class AigneImageRequest(BaseModel):
    """The envelope the client sends. `agent` and `options` are the client's and are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)

    input: dict[str, Any]
    agent: str | None = None
    options: dict[str, Any] | None = None


class AigneImage(BaseModel):
    type: Literal["url", "file"]
    url: str | None = None
    data: str | None = None
    mimeType: str


class AigneUsage(BaseModel):
    inputTokens: int
    outputTokens: int
    aigneHubCredits: float | None = None


class AigneImagesResponse(BaseModel):
    images: list[AigneImage]
    usage: AigneUsage
    model: str = Field(description="`provider/model`, a name the hub accepts back as `model`.")


def snake_case(name: str) -> str:
    """`outputCompression` -> `output_compression`: AIGNE apps write options in camelCase."""
    return _CAMEL_HUMP.sub("_", name).lower()


def _image_reference(item: Any, param: str) -> Any:
    """An AIGNE file object becomes the string the shared validator understands."""
    if not isinstance(item, dict):
        return item  # strings pass through; other types are rejected by the shared validator
    kind = item.get("type")
    if kind == "file" and isinstance(item.get("data"), str):
        mime = item.get("mimeType")
        data: str = item["data"]
        return f"data:{mime};base64,{data}" if isinstance(mime, str) and mime else data
    if kind == "url" and isinstance(item.get("url"), str):
        return item["url"]
    if kind == "local":
        raise InvalidRequest(
            f"'{param}' is a local file path, which the hub cannot read. "
            "Send it as {type: 'file', data: <base64>, mimeType}.",
            param=param,
            code="invalid_value",
        )
    raise InvalidRequest(
        f"Invalid value for '{param}': expected a string, {{type: 'file', data, mimeType}} "
        "or {type: 'url', url}.",
        param=param,
        code="invalid_type",
    )


def _images(value: Any) -> Any:
    """AIGNE sends `image: []` for "no images"; a single item is accepted as well as a list."""
    if isinstance(value, list):
        if not value:
            return None
        return [_image_reference(item, f"image[{index}]") for index, item in enumerate(value)]
    return None if value is None else _image_reference(value, "image")


def _model_options(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(
            "Invalid type for 'modelOptions': expected an object.", param="modelOptions", code="invalid_type"
        )
    options = {snake_case(key): option for key, option in value.items()}
    for key in _CLIENT_ONLY_OPTIONS:
        options.pop(key, None)
    if "response_format" in options:
        raise InvalidRequest(
            "'response_format' is chosen by 'outputFileType' on this route ('url' or 'file').",
            param="response_format",
            code="unsupported_parameter",
        )
    return options


def _response_format(output_file_type: Any) -> str:
    if output_file_type is None or output_file_type == "url":
        return "url"
    if output_file_type == "file":
        return "b64_json"
    raise InvalidRequest(
        f"Invalid value for 'outputFileType': {output_file_type!r}. Supported values are: 'url', 'file'.",
        param="outputFileType",
        code="invalid_value",
    )


def to_generation_request(body: dict[str, Any]) -> ImageGenerationRequest:
    """Translate AIGNE's `input` into the hub's request; the service then validates it."""
    fields = _model_options(body.get("modelOptions"))
    for key, value in body.items():
        name = snake_case(key)
        if name in _TOP_LEVEL_FIELDS and value is not None:
            fields[name] = value
    for name in ("prompt", "n"):
        if body.get(name) is not None:
            fields[name] = body[name]
    from_options = fields.pop("image", None)
    image = _images(body["image"] if body.get("image") is not None else from_options)
    if image is not None:
        fields["image"] = image
    fields["response_format"] = _response_format(body.get("outputFileType"))
    # The main route's own strict JSON validation, so both answer with the same messages.
    return validate_json(orjson.dumps(fields), ImageGenerationRequest)


def to_aigne_images(outcome: GenerationOutcome) -> list[dict[str, str]]:
    mime = CONTENT_TYPES.get(outcome.output_format, "image/png")
    return [
        {"type": "url", "url": item["url"], "mimeType": mime}
        if "url" in item
        else {"type": "file", "data": materialize(item["b64_json"]), "mimeType": mime}
        for item in outcome.data
    ]


def to_aigne_usage(outcome: GenerationOutcome) -> dict[str, int]:
    """Token counts where the upstream reports them (GPT image models); 0 otherwise."""
    usage = outcome.echo.get("usage")
    counts = usage if isinstance(usage, dict) else {}
    return {
        "inputTokens": _int(counts.get("input_tokens")),
        "outputTokens": _int(counts.get("output_tokens")),
    }


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
