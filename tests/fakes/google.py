"""A fake Gemini API (v1beta): Gemini image models via :generateContent and Imagen via :predict.

Shapes follow the real REST API: camelCase responses (snake_case requests are accepted, as the real
proto-JSON parser does), google.rpc.Status errors, HTTP 200 for safety blocks, and the published
pixel sizes per aspect ratio so the hub's size mapping can be checked end to end.
"""

from __future__ import annotations

import base64
import binascii
import io
import uuid
from typing import Any

from aiohttp import web
from PIL import Image

from tests.fakes.server import FAULT, RECORDED, FakeServer, Fault, RecordedRequest, image_bytes, json_response

DEFAULT_API_KEY = "fake-gemini-key"

#: gemini-2.5-flash-image: 1K only, 1290 output tokens per image.
GEMINI_25_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}

#: gemini-3-pro-image 1K; 2K and 4K are exact multiples (x2, x4).
GEMINI_3_PRO_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
}
#: gemini-3.1-flash-image: the same ratios plus four extreme ones, at the same scales.
GEMINI_31_FLASH_SIZES: dict[str, tuple[int, int]] = {
    **GEMINI_3_PRO_SIZES,
    "1:4": (512, 2048),
    "4:1": (2048, 512),
    "1:8": (384, 3072),
    "8:1": (3072, 384),
}
GEMINI_3_PRO_SCALE = {"1K": 1, "2K": 2, "4K": 4}
GEMINI_3_PRO_TOKENS = {"1K": 1120, "2K": 1120, "4K": 2000}
GEMINI_31_FLASH_TOKENS = {"1K": 1120, "2K": 1680, "4K": 2520}
#: Names the real API no longer serves (shut down 2026-06-25): the fake answers 404, as Google does.
SHUT_DOWN = frozenset({"gemini-3-pro-image-preview", "gemini-3.1-flash-image-preview"})
GEMINI_25_TOKENS = 1290
PROMPT_TOKENS = 12

#: Imagen 3/4 at 1K; 2K (Imagen 4 Standard/Ultra only) doubles both sides.
IMAGEN_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "3:4": (896, 1280),
    "4:3": (1280, 896),
    "9:16": (768, 1408),
    "16:9": (1408, 768),
}

RAI_FILTERED_REASON = (
    "Unable to show generated images. All images were filtered out because they violated Vertex AI's "
    "usage guidelines. You will not be charged for blocked images. Try rephrasing the prompt. "
    "Support codes: 29310472"
)

_STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_STATUS_MESSAGES: dict[int, str] = {
    400: "Request contains an invalid argument.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "You exceeded your current quota, please check your plan and billing details.",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}


def google_error(
    code: int, message: str, status: str | None = None, details: list[Any] | None = None
) -> dict[str, Any]:
    """google.rpc.Status in Google's `{"error": ...}` wrapper (for `Fault.status(..., body=...)`)."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": status or _STATUS_NAMES.get(code, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return {"error": error}


def gemini_size(model: str, aspect_ratio: str, image_size: str = "1K") -> tuple[int, int] | None:
    """Output pixels for a Gemini image model, or None if the ratio/size is not supported."""
    flash = "gemini-3.1-flash" in model and "lite" not in model
    table = GEMINI_31_FLASH_SIZES if flash or "nano-banana" in model else GEMINI_3_PRO_SIZES
    if "lite" in model and image_size != "1K":
        return None
    if "gemini-3" in model or "nano-banana" in model:
        base = table.get(aspect_ratio)
        scale = GEMINI_3_PRO_SCALE.get(image_size)
        return None if base is None or scale is None else (base[0] * scale, base[1] * scale)
    return GEMINI_25_SIZES.get(aspect_ratio)


def output_tokens_for(model: str, image_size: str) -> int:
    if "gemini-3.1-flash" in model or "nano-banana" in model:
        return GEMINI_31_FLASH_TOKENS.get(image_size, 1120)
    return GEMINI_3_PRO_TOKENS.get(image_size, 1120) if "gemini-3" in model else GEMINI_25_TOKENS


def imagen_size(aspect_ratio: str, sample_image_size: str = "1K") -> tuple[int, int] | None:
    """Output pixels for Imagen, or None if the ratio/size is not supported."""
    base = IMAGEN_SIZES.get(aspect_ratio)
    scale = {"1K": 1, "2K": 2}.get(sample_image_size)
    return None if base is None or scale is None else (base[0] * scale, base[1] * scale)


def _get(mapping: Any, camel: str, snake: str) -> Any:
    """Read a field in either spelling, as the real request parser accepts both."""
    if not isinstance(mapping, dict):
        return None
    return mapping.get(camel, mapping.get(snake))


#: Gemini's model list in December 2026: image models and others, no Imagen, no previews.
LISTED_MODELS = (
    "gemini-3-pro-image",
    "gemini-3.1-flash-image",
    "gemini-nano-banana-2.1",
    "gemini-3.1-flash-lite-image",
    "gemini-3.8-flash",
    "text-embedding-005",
)


class FakeGoogle(FakeServer):
    """The Gemini API under /v1beta: `models/{model}:generateContent` and `models/{model}:predict`.

    strict=True (default) rejects what the real API rejects: unknown aspect ratios or sizes, bad
    sampleCount, missing prompt/contents, undecodable input images.
    """

    def __init__(self, api_key: str = DEFAULT_API_KEY, *, strict: bool = True) -> None:
        super().__init__()
        self.api_key = api_key
        self.strict = strict
        #: What models.list answers (ids without the "models/" prefix), a page at a time.
        self.listed_models: list[str] = list(LISTED_MODELS)

    # ---- public helpers --------------------------------------------------------------------------

    @staticmethod
    def image_for(
        size: tuple[int, int], model: str, prompt: str, index: int = 0, mime_type: str = "image/png"
    ) -> bytes:
        """The exact bytes this fake returns for (size, model, prompt, index): for assertions."""
        width, height = size
        fmt = "jpeg" if mime_type == "image/jpeg" else "png"
        return image_bytes(width, height, seed=f"google|{model}|{width}x{height}|{prompt}|{index}", fmt=fmt)

    def error_response(
        self, status: int, message: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        """Default error body for an injected status, as google.rpc.Status."""
        text = message or _STATUS_MESSAGES.get(status, f"HTTP {status}")
        return json_response(google_error(status, text), status=status, headers=headers)

    def rate_limit_response(self, retry_after: float | None) -> web.Response:
        """429 RESOURCE_EXHAUSTED with QuotaFailure, plus RetryInfo and Retry-After when given."""
        details: list[Any] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": (
                            "generativelanguage.googleapis.com/generate_content_free_tier_requests"
                        ),
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        "quotaValue": "10",
                    }
                ],
            }
        ]
        headers = None
        if retry_after is not None:
            details.append(
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{round(retry_after)}s"}
            )
            headers = {"Retry-After": str(round(retry_after))}
        body = google_error(429, _STATUS_MESSAGES[429], details=details)
        return json_response(body, status=429, headers=headers)

    # ---- routes ----------------------------------------------------------------------------------

    def setup_routes(self, app: web.Application) -> None:
        """`{target}` holds "model:method" (the colon is part of one path segment)."""
        app.router.add_get("/v1beta/models", self._list_models)
        app.router.add_post("/v1beta/models/{target}", self._model_method)
        app.router.add_route("*", "/{tail:.*}", self._not_found)

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        """models.list: `models[]` with `name` = "models/<id>", paged by pageSize and pageToken."""
        if (denied := self._check_auth(request[RECORDED])) is not None:
            return denied
        size = int(request.query.get("pageSize") or 50)
        start = int(request.query.get("pageToken") or 0)
        page = self.listed_models[start : start + size]
        body: dict[str, Any] = {
            "models": [
                {
                    "name": f"models/{name}",
                    "displayName": name,
                    "supportedGenerationMethods": ["generateContent", "countTokens"],
                }
                for name in page
            ]
        }
        if start + size < len(self.listed_models):
            body["nextPageToken"] = str(start + size)
        return json_response(body)

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return self._error(404, f"Requested entity was not found. ({request.method} {request.path})")

    async def _model_method(self, request: web.Request) -> web.StreamResponse:
        recorded: RecordedRequest = request[RECORDED]
        if (denied := self._check_auth(recorded)) is not None:
            return denied
        model, sep, method = request.match_info["target"].rpartition(":")
        if not sep or not model:
            return self._error(404, f"Requested entity was not found. ({request.path})")
        if not isinstance(recorded.json, dict):
            return self._error(400, "Invalid JSON payload received. Expected an object.")
        fault: Fault | None = request.get(FAULT)
        if method == "generateContent":
            return self._generate_content(model, recorded.json, fault)
        if method == "predict":
            return self._predict(model, recorded.json, fault)
        return self._error(404, f"Method not found: {method}")

    # ---- Gemini ----------------------------------------------------------------------------------

    def _generate_content(self, model: str, body: dict[str, Any], fault: Fault | None) -> web.Response:
        draws = "image" in model or "nano-banana" in model
        if self.strict and (not draws or model in SHUT_DOWN):
            return self._error(
                404,
                f"models/{model} is not found for API version v1beta, "
                "or is not supported for generateContent.",
            )
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return self._error(400, "* GenerateContentRequest.contents: contents is not specified\n")
        texts: list[str] = []
        inputs: list[bytes] = []
        for content in contents:
            for part in (content or {}).get("parts") or []:
                if isinstance(part.get("text"), str):
                    texts.append(part["text"])
                inline = _get(part, "inlineData", "inline_data")
                if isinstance(inline, dict):
                    try:
                        inputs.append(base64.b64decode(str(inline.get("data", "")), validate=True))
                    except (binascii.Error, ValueError):
                        return self._error(
                            400, "Invalid value at 'contents[0].parts[1].inline_data.data' (TYPE_BYTES)"
                        )
        prompt = "\n".join(texts)

        image_config = (
            _get(_get(body, "generationConfig", "generation_config"), "imageConfig", "image_config") or {}
        )
        aspect_ratio = _get(image_config, "aspectRatio", "aspect_ratio")
        image_size = _get(image_config, "imageSize", "image_size") or "1K"
        if aspect_ratio is None:
            aspect_ratio = self._ratio_of(inputs[0]) if inputs else "1:1"
            if aspect_ratio is None:
                return self._error(
                    400,
                    "Unable to process input image. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
                )
        size = gemini_size(model, str(aspect_ratio), str(image_size))
        if size is None:
            if self.strict:
                return self._error(
                    400, f"Unsupported aspect ratio or image size: {aspect_ratio!r} / {image_size!r}"
                )
            size = (1024, 1024)

        if fault is not None and fault.kind == "content_policy":
            prompt_only = {"promptTokenCount": PROMPT_TOKENS, "totalTokenCount": PROMPT_TOKENS}
            feedback = {
                "blockReason": "SAFETY",
                "safetyRatings": [
                    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "HIGH", "blocked": True}
                ],
            }
            return json_response(
                {"promptFeedback": feedback, "usageMetadata": prompt_only, "modelVersion": model}
            )

        parts: list[dict[str, Any]] = []
        finish_reason = "STOP"
        output_tokens = output_tokens_for(model, str(image_size))
        if fault is not None and fault.kind == "thoughts":
            draft = self.image_for(size, model, prompt, index=99)
            parts += [
                {"text": "**Planning the composition**\nI will lay out the scene first.", "thought": True},
                {"inlineData": {"mimeType": "image/png", "data": _b64(draft)}, "thought": True},
            ]
        if fault is not None and fault.kind == "no_image":
            finish_reason = fault.reason or "IMAGE_SAFETY"
            if isinstance(fault.body, str):
                parts.append({"text": fault.body})
            output_tokens = 0
        else:
            image = self.image_for(size, model, prompt)
            parts.append({"text": "Here is your image."})
            image_part: dict[str, Any] = {"inlineData": {"mimeType": "image/png", "data": _b64(image)}}
            if fault is not None and fault.kind == "thoughts":
                image_part["thoughtSignature"] = "ZmFrZS1zaWduYXR1cmU="
            parts.append(image_part)
        usage: dict[str, Any] = {
            "promptTokenCount": PROMPT_TOKENS,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": PROMPT_TOKENS + output_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": PROMPT_TOKENS}],
            "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": output_tokens}],
        }
        candidate = {"content": {"role": "model", "parts": parts}, "finishReason": finish_reason, "index": 0}
        return json_response(
            {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": uuid.uuid4().hex[:22],
            }
        )

    @staticmethod
    def _ratio_of(data: bytes) -> str | None:
        """With no aspectRatio, Gemini follows the input image: pick the closest supported ratio."""
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
        except Exception:
            return None
        target = width / height

        def distance(ratio: str) -> float:
            w, h = (int(x) for x in ratio.split(":"))
            return abs(w / h - target)

        return min(GEMINI_25_SIZES, key=distance)

    # ---- Imagen ----------------------------------------------------------------------------------

    def _predict(self, model: str, body: dict[str, Any], fault: Fault | None) -> web.Response:
        if self.strict and "imagen" not in model:
            return self._error(
                404, f"models/{model} is not found for API version v1beta, or is not supported for predict."
            )
        instances = body.get("instances")
        prompt = (
            instances[0].get("prompt")
            if isinstance(instances, list) and instances and isinstance(instances[0], dict)
            else None
        )
        if not isinstance(prompt, str) or not prompt:
            return self._error(400, "Prompt is required. (instances[0].prompt)")
        parameters = body.get("parameters") or {}
        count = parameters.get("sampleCount", 4)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 4:
            return self._error(400, f"Number of images must be between 1 and 4, got {count!r}.")
        aspect_ratio = str(parameters.get("aspectRatio", "1:1"))
        sample_size = str(parameters.get("sampleImageSize", "1K"))
        if self.strict and sample_size == "2K" and ("fast" in model or "imagen-3" in model):
            return self._error(400, f"sampleImageSize 2K is not supported by {model}.")
        size = imagen_size(aspect_ratio, sample_size)
        if size is None:
            if self.strict:
                return self._error(
                    400, f"Unsupported aspect ratio or sample image size: {aspect_ratio!r} / {sample_size!r}"
                )
            size = (1024, 1024)
        mime_type = str((parameters.get("outputOptions") or {}).get("mimeType", "image/png"))
        if self.strict and mime_type not in ("image/png", "image/jpeg"):
            return self._error(400, f"Unsupported output mime type: {mime_type}")

        if fault is not None and fault.kind == "content_policy":
            return json_response({"predictions": [{"raiFilteredReason": RAI_FILTERED_REASON}]})
        filtered = fault.count if fault is not None and fault.kind == "partially_filtered" else 0
        predictions: list[dict[str, Any]] = []
        for index in range(count):
            if index < filtered:
                predictions.append({"raiFilteredReason": RAI_FILTERED_REASON})
            else:
                data = self.image_for(size, model, prompt, index, mime_type)
                predictions.append({"bytesBase64Encoded": _b64(data), "mimeType": mime_type})
        return json_response({"predictions": predictions})

    # ---- auth and errors -------------------------------------------------------------------------

    def _check_auth(self, recorded: RecordedRequest) -> web.Response | None:
        """Missing key: 403 PERMISSION_DENIED; wrong key: 400 INVALID_ARGUMENT/API_KEY_INVALID (as Google)."""
        key = recorded.headers.get("x-goog-api-key") or recorded.query.get("key")
        if not key:
            return self._error(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        if key != self.api_key:
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                },
                {
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": "API key not valid. Please pass a valid API key.",
                },
            ]
            body = google_error(400, "API key not valid. Please pass a valid API key.", details=details)
            return json_response(body, status=400)
        return None

    def _error(self, status: int, message: str) -> web.Response:
        return json_response(google_error(status, message), status=status)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


__all__ = [
    "DEFAULT_API_KEY",
    "GEMINI_3_PRO_SIZES",
    "GEMINI_25_SIZES",
    "GEMINI_31_FLASH_SIZES",
    "IMAGEN_SIZES",
    "FakeGoogle",
    "gemini_size",
    "google_error",
    "imagen_size",
]
