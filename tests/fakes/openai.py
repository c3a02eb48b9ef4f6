"""A fake OpenAI Images API (/v1/images/generations, /edits, /variations).

It answers in OpenAI's real wire format, including the details the hub has to get right: DALL-E
defaults to `url` responses, GPT image models reject `response_format` and add `usage`, and errors
use OpenAI's `{"error": {message, type, param, code}}` envelope.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import uuid
from typing import Any, Literal

from aiohttp import web
from aiohttp_sse import sse_response

from tests.fakes.server import (
    FAULT,
    RECORDED,
    FakeServer,
    FileStore,
    RecordedRequest,
    UploadedFile,
    image_bytes,
    json_response,
    parse_size,
)

DEFAULT_API_KEY = "sk-fake-openai"

#: Sizes the real API accepts per model; other models (or strict=False) accept any "WxH".
MODEL_SIZES: dict[str, tuple[str, ...]] = {
    "dall-e-2": ("256x256", "512x512", "1024x1024"),
    "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
    "gpt-image-1": ("1024x1024", "1536x1024", "1024x1536", "auto"),
    "gpt-image-1-mini": ("1024x1024", "1536x1024", "1024x1536", "auto"),
    "gpt-image-1.5": ("1024x1024", "1536x1024", "1024x1536", "auto"),
    "chatgpt-image-latest": ("1024x1024", "1536x1024", "1024x1536", "auto"),
}
#: Models that take any WIDTHxHEIGHT under gpt-image-2's rule (see `free_size_problem`).
FREE_SIZE_MODELS = frozenset(
    {
        "gpt-image-2",
        "gpt-image-2-2026-04-21",
        "gpt-image-2.5-flare",
        "gpt-image-2.5-sunburst",
        "gpt-image-2.6-flare",
        "gpt-image-2.6-sunburst",
    }
)

GPT_IMAGE_USAGE: dict[str, Any] = {
    "input_tokens": 10,
    "input_tokens_details": {"text_tokens": 10, "image_tokens": 0},
    "output_tokens": 4160,
    "total_tokens": 4170,
}
#: gpt-image-2 also reports output_tokens_details, as the SDK's newer Usage type has it.
GPT_IMAGE_2_USAGE: dict[str, Any] = {
    "input_tokens": 12,
    "input_tokens_details": {"text_tokens": 12, "image_tokens": 0},
    "output_tokens": 7024,
    "output_tokens_details": {"image_tokens": 7024, "text_tokens": 0},
    "total_tokens": 7036,
}

DALLE_CONTENT_POLICY_MESSAGE = (
    "Your request was rejected as a result of our safety system. Your prompt may contain text that is "
    "not allowed by our safety system."
)
GPT_IMAGE_MODERATION_MESSAGE = (
    "Your request was rejected by the safety system. If you believe this is an error, contact us at "
    "help.openai.com and include the request ID {request_id}. safety_violations=[sexual]."
)

# Default (type, code, message) for injected statuses, matching bodies seen from the real API.
_STATUS_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Country not supported."),
    404: ("invalid_request_error", None, "The requested resource was not found."),
    409: ("invalid_request_error", None, "Conflict."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit exceeded for images per minute in organization org-fake. Limit: 5/1min. "
        "Current: 6/1min. Please visit https://platform.openai.com/docs/guides/rate-limits to learn "
        "how to increase your rate limit.",
    ),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The server is overloaded or not ready yet."),
    504: ("server_error", None, "Gateway timeout."),
}


def openai_error(
    message: str, type_: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error envelope (handy for `Fault.status(400, body=openai_error(...))`)."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def is_gpt_image(model: str) -> bool:
    """GPT image models always answer b64_json, reject response_format and report usage."""
    return model.startswith("gpt-image") or model == "chatgpt-image-latest"


def free_size_problem(size: str) -> str | None:
    """gpt-image-2's rule: sides divisible by 16, ratio 1:3 to 3:1, 655,360 to 8,294,400 pixels."""
    if size == "auto":
        return None
    width, _, height = size.partition("x")
    if not (width.isdigit() and height.isdigit()):
        return "Size must be WIDTHxHEIGHT."
    w, h = int(width), int(height)
    if w % 16 or h % 16 or max(w, h) > 3840:
        return "Width and height must be multiples of 16 and at most 3840."
    if max(w, h) > 3 * min(w, h):
        return "Aspect ratio must be between 1:3 and 3:1."
    if not 655_360 <= w * h <= 8_294_400:
        return "Total pixels must be between 655360 and 8294400."
    return None


class FakeOpenAI(FakeServer):
    """OpenAI's images API under /v1, plus GET /files/<id>.png for `url` responses.

    strict=True (default) rejects requests the real API rejects (missing prompt/image, bad n,
    unsupported size for a known model, `response_format` sent to a GPT image model).
    """

    def __init__(self, api_key: str = DEFAULT_API_KEY, *, strict: bool = True) -> None:
        super().__init__()
        self.api_key = api_key
        self.strict = strict
        self.files = FileStore()
        #: What a GPT image answer reports besides the images: "usage" (OpenAI: tokens and the
        #: parameters used), "terms" (only the quality and size used; `auto` quality as high), or
        #: "nothing" (as many OpenAI-compatible servers answer).
        self.reports: Literal["usage", "terms", "nothing"] = "usage"
        #: Seconds between the events of a streamed answer (a real model takes seconds per image).
        self.event_delay = 0.0

    # ---- public helpers --------------------------------------------------------------------------

    @staticmethod
    def image_for(
        size: str | tuple[int, int] | None,
        model: str,
        prompt: str,
        index: int = 0,
        output_format: str = "png",
        transparent: bool = False,
    ) -> bytes:
        """The exact bytes this fake returns for (size, model, prompt, index): for assertions."""
        width, height = size if isinstance(size, tuple) else parse_size(size)
        seed = f"openai|{model}|{width}x{height}|{prompt}|{index}"
        return image_bytes(width, height, seed=seed, fmt=output_format, transparent=transparent)

    def error_response(
        self, status: int, message: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        """Default error body for an injected status, in OpenAI's envelope."""
        type_, code, default = _STATUS_ERRORS.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status}")
        )
        return self._error(status, openai_error(message or default, type_, None, code), headers)

    # ---- routes ----------------------------------------------------------------------------------

    def setup_routes(self, app: web.Application) -> None:
        """Register the three image endpoints, the file server and an OpenAI-shaped 404."""
        app.router.add_post("/v1/images/generations", self._generations)
        app.router.add_post("/v1/images/edits", self._edits)
        app.router.add_post("/v1/images/variations", self._variations)
        app.router.add_get("/files/{name}", self._file)
        app.router.add_route("*", "/{tail:.*}", self._not_found)

    async def _generations(self, request: web.Request) -> web.StreamResponse:
        recorded: RecordedRequest = request[RECORDED]
        if (denied := self._check_auth(recorded)) is not None:
            return denied
        if not isinstance(recorded.json, dict):
            return self._bad_request(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
                "sent was not valid JSON.)"
            )
        params = dict(recorded.json)
        if _truthy(params.get("stream")):
            return await self._stream(request, params, images=[], kind="image_generation")
        return self._answer(request, params, images=[])

    async def _edits(self, request: web.Request) -> web.StreamResponse:
        recorded: RecordedRequest = request[RECORDED]
        if (denied := self._check_auth(recorded)) is not None:
            return denied
        if recorded.form is None:
            return self._bad_request("Invalid Content-Type header, expected multipart/form-data.")
        images = recorded.files("image") + recorded.files("image[]")
        if self.strict and not images:
            return self._bad_request(
                "Missing required parameter: 'image'.", "image", "missing_required_parameter"
            )
        params = _text_fields(recorded)
        if _truthy(params.get("stream")):
            return await self._stream(request, params, images=images, kind="image_edit")
        return self._answer(request, params, images=images)

    async def _variations(self, request: web.Request) -> web.StreamResponse:
        recorded: RecordedRequest = request[RECORDED]
        if (denied := self._check_auth(recorded)) is not None:
            return denied
        if recorded.form is None:
            return self._bad_request("Invalid Content-Type header, expected multipart/form-data.")
        images = recorded.files("image")
        if self.strict and len(images) != 1:
            return self._bad_request(
                "Missing required parameter: 'image'.", "image", "missing_required_parameter"
            )
        params = _text_fields(recorded)
        params.setdefault("model", "dall-e-2")
        params["prompt"] = ""
        return self._answer(request, params, images=images, needs_prompt=False)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        stored = self.files.get(request.match_info["name"])
        if stored is None:
            return web.Response(status=404, text="BlobNotFound")
        data, content_type = stored
        return web.Response(body=data, content_type=content_type)

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        message = f"Invalid URL ({request.method} {request.path})"
        return self._error(404, openai_error(message))

    # ---- behaviour -------------------------------------------------------------------------------

    def _answer(
        self,
        request: web.Request,
        params: dict[str, Any],
        images: list[UploadedFile],
        needs_prompt: bool = True,
    ) -> web.Response:
        """Validate like the real API, honour a content-policy fault, then build the ImagesResponse."""
        model = str(params.get("model") or "dall-e-2")
        prompt = params.get("prompt")
        if needs_prompt and self.strict and not prompt:
            return self._bad_request(
                "Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter"
            )
        prompt = str(prompt or "")
        n = params.get("n", 1)
        try:
            n = int(n if n is not None else 1)
        except (TypeError, ValueError):
            return self._bad_request(
                f"Invalid type for 'n': expected an integer, but got {n!r} instead.", "n"
            )
        response_format = params.get("response_format")
        if self.strict and (problem := self._validate(model, n, params.get("size"), response_format)):
            return problem

        fault = request.get(FAULT)
        if fault is not None and fault.kind == "content_policy":
            return self._content_policy(model)

        width, height = parse_size(params.get("size"))
        if response_format is None:
            response_format = "b64_json" if is_gpt_image(model) else "url"
        gpt_image = is_gpt_image(model)
        output_format = str(params.get("output_format") or "png") if gpt_image else "png"
        transparent = gpt_image and params.get("background") == "transparent"
        data: list[dict[str, Any]] = []
        for index in range(n):
            blob = self.image_for((width, height), model, prompt, index, output_format, transparent)
            if response_format == "url":
                name = hashlib.sha256(blob).hexdigest()[:24] + ".png"
                self.files.put(name, blob, "image/png")
                item: dict[str, Any] = {"url": f"{self.url}/files/{name}"}
            else:
                item = {"b64_json": base64.b64encode(blob).decode("ascii")}
            if model == "dall-e-3":
                item["revised_prompt"] = "revised: " + prompt
            data.append(item)
        body: dict[str, Any] = {"created": int(time.time()), "data": data}
        if gpt_image and self.reports == "terms":
            quality = params.get("quality")
            body["size"] = f"{width}x{height}"
            body["quality"] = quality if quality and quality != "auto" else "high"
        elif gpt_image and self.reports == "usage":
            quality = params.get("quality")
            body["background"] = "transparent" if transparent else "opaque"
            body["output_format"] = output_format
            body["size"] = f"{width}x{height}"
            body["quality"] = quality if quality and quality != "auto" else "medium"
            body["usage"] = dict(GPT_IMAGE_2_USAGE if model in FREE_SIZE_MODELS else GPT_IMAGE_USAGE)
        return json_response(body, headers=self._headers())

    async def _stream(
        self, request: web.Request, params: dict[str, Any], images: list[UploadedFile], kind: str
    ) -> web.StreamResponse:
        """OpenAI's streamed answer, as real server-sent events: previews, then each image."""
        model = str(params.get("model") or "dall-e-2")
        if self.strict and not is_gpt_image(model):
            return self._bad_request(f"Streaming is not supported for model {model}.", "stream")
        partials = int(params.get("partial_images") or 0)
        if self.strict and not 0 <= partials <= 3:
            return self._bad_request("Invalid 'partial_images'.", "partial_images", "invalid_value")
        answer = self._answer(request, {k: v for k, v in params.items() if k != "stream"}, images)
        if answer.status != 200:
            return answer
        assert answer.body is not None
        body = json.loads(bytes(answer.body))  # type: ignore[arg-type]
        echo = {
            name: body[name] for name in ("background", "output_format", "size", "quality") if name in body
        }
        async with sse_response(request, allow_all_methods=True) as events:
            for index, item in enumerate(body["data"]):
                for partial in range(partials):
                    await asyncio.sleep(self.event_delay)
                    preview = image_bytes(64, 64, seed=f"partial|{index}|{partial}")
                    await events.send(
                        json.dumps(
                            {
                                "type": f"{kind}.partial_image",
                                "b64_json": base64.b64encode(preview).decode("ascii"),
                                "partial_image_index": partial,
                                "created_at": body["created"],
                                **echo,
                            }
                        ),
                        event=f"{kind}.partial_image",
                    )
                await asyncio.sleep(self.event_delay)
                completed = {
                    "type": f"{kind}.completed",
                    "b64_json": item["b64_json"],
                    "created_at": body["created"],
                }
                completed.update({**echo, "usage": body.get("usage", {})})
                await events.send(json.dumps(completed), event=f"{kind}.completed")
        return events

    def _validate(self, model: str, n: int, size: Any, response_format: Any) -> web.Response | None:
        if n < 1:
            return self._bad_request(
                f"Invalid 'n': integer below minimum value. Expected a value >= 1, but got {n} instead.",
                "n",
                "integer_below_min_value",
            )
        if n > 10:
            return self._bad_request(
                f"Invalid 'n': integer above maximum value. Expected a value <= 10, but got {n} instead.",
                "n",
                "integer_above_max_value",
            )
        if model == "dall-e-3" and n != 1:
            return self._bad_request("You must provide n=1 for this model.")
        if response_format is not None:
            if is_gpt_image(model):
                return self._bad_request(
                    "Unknown parameter: 'response_format'.", "response_format", "unknown_parameter"
                )
            if response_format not in ("url", "b64_json"):
                return self._bad_request(
                    f"Invalid value: '{response_format}'. Supported values are: 'url' and 'b64_json'.",
                    "response_format",
                    "invalid_value",
                )
        if model in FREE_SIZE_MODELS and size is not None and (problem := free_size_problem(str(size))):
            return self._bad_request(f"Invalid value: '{size}'. {problem}", "size", "invalid_value")
        allowed = MODEL_SIZES.get(model)
        if allowed and size is not None and size not in allowed:
            quoted = [f"'{s}'" for s in allowed]
            listed = ", ".join(quoted[:-1]) + f", and {quoted[-1]}"
            return self._bad_request(
                f"Invalid value: '{size}'. Supported values are: {listed}.", "size", "invalid_value"
            )
        return None

    def _content_policy(self, model: str) -> web.Response:
        """DALL-E says content_policy_violation; GPT image models say moderation_blocked."""
        if is_gpt_image(model):
            request_id = f"req_{uuid.uuid4().hex}"
            body = openai_error(
                GPT_IMAGE_MODERATION_MESSAGE.format(request_id=request_id),
                "image_generation_user_error",
                None,
                "moderation_blocked",
            )
            body["error"]["moderation_details"] = {"moderation_stage": "input", "categories": ["sexual"]}
            return self._error(400, body)
        return self._error(
            400,
            openai_error(
                DALLE_CONTENT_POLICY_MESSAGE, "invalid_request_error", None, "content_policy_violation"
            ),
        )

    def _check_auth(self, recorded: RecordedRequest) -> web.Response | None:
        header = recorded.headers.get("authorization", "")
        if not header:
            return self._error(
                401,
                openai_error(
                    "You didn't provide an API key. You need to provide your API key in an Authorization "
                    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    code="invalid_api_key",
                ),
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.api_key:
            shown = token.strip()[:3] + "*" * 6 + token.strip()[-4:] if len(token.strip()) > 8 else "***"
            return self._error(
                401,
                openai_error(
                    f"Incorrect API key provided: {shown}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    code="invalid_api_key",
                ),
            )
        return None

    def _bad_request(self, message: str, param: str | None = None, code: str | None = None) -> web.Response:
        return self._error(400, openai_error(message, "invalid_request_error", param, code))

    def _error(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> web.Response:
        return json_response(body, status=status, headers={**self._headers(), **(headers or {})})

    @staticmethod
    def _headers() -> dict[str, str]:
        return {"x-request-id": f"req_{uuid.uuid4().hex}", "openai-processing-ms": "12"}


_ECHO = ("background", "output_format", "size", "quality")


def _truthy(value: Any) -> bool:
    """`stream` as JSON's true or a form's "true"."""
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def _text_fields(recorded: RecordedRequest) -> dict[str, Any]:
    """First text value of each multipart field (files excluded), like the real form parser."""
    fields: dict[str, Any] = {}
    for name, values in (recorded.form or {}).items():
        for value in values:
            if isinstance(value, str):
                fields.setdefault(name, value)
                break
    return fields


__all__ = ["DEFAULT_API_KEY", "FakeOpenAI", "openai_error"]
