"""A fake Azure OpenAI resource: the v1 images API, the older per-deployment form, and its auth.

Routes: `POST /openai/v1/images/{generations,edits}` (`model` is an Azure deployment name;
`api-version` absent or `preview`) and `POST /openai/deployments/{name}/images/...` (the
`api-version` query is required). Auth is the `api-key` header or an Entra ID bearer token
this fake issued from its App Service managed-identity endpoint (`GET /msi/token`, which
azure-identity's ManagedIdentityCredential calls when IDENTITY_ENDPOINT and IDENTITY_HEADER are
set). Requests and answers (JSON, multipart, SSE) are OpenAI's: FakeOpenAI builds them. The
content filter answers as Azure does: 400 with `inner_error.content_filter_results`.
`GET /openai/v1/models` lists the resource's models (not its deployments), each with Azure's
`lifecycle_status` and `deprecation.inference` (Unix seconds), behind the same auth.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.fakes.openai import FakeOpenAI, _text_fields, _truthy, openai_error
from tests.fakes.server import RECORDED, Fault, RecordedRequest, json_response

DEFAULT_KEY = "azure-fake-key-0123456789"
IDENTITY_HEADER = "fake-identity-header"
LEGACY_VERSIONS = frozenset({"2025-04-01-preview", "2024-10-21"})
IMAGE_PATHS = "/images/"


def retires(day: str) -> int:
    """Azure's `deprecation.inference`: the retirement day as Unix seconds (midnight UTC)."""
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


#: The resource's model list in December 2026: (id, deprecation.inference or None).
LISTED: tuple[tuple[str, int | None], ...] = (
    ("gpt-image-2", None),
    ("gpt-image-1", retires("2026-10-23")),
    ("gpt-image-1-mini", retires("2026-12-01")),
    ("gpt-image-1.5", retires("2026-12-01")),
    ("gpt-4.1", retires("2027-04-14")),
    ("text-embedding-3-small", None),
)


class FakeAzureOpenAI(FakeOpenAI):
    """One Azure OpenAI resource; `deployments` maps its deployment names to the models they run."""

    def __init__(self, deployments: dict[str, str], api_key: str = DEFAULT_KEY) -> None:
        super().__init__(api_key)
        self.deployments = dict(deployments)
        self.tokens: set[str] = set()  # bearer tokens issued and still honoured
        self.token_lifetime = 3600
        self.listed: list[tuple[str, int | None]] = list(LISTED)

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_get("/msi/token", self._identity_token)
        app.router.add_get("/openai/v1/models", self._models)
        app.router.add_post("/openai/v1/images/{endpoint}", self._v1)
        app.router.add_post("/openai/deployments/{deployment}/images/{endpoint}", self._legacy)
        app.router.add_route("*", "/{tail:.*}", self._not_found)

    def _take_fault(self, path: str) -> Fault | None:
        # Faults are for the images API; a token request never consumes one.
        return super()._take_fault(path) if IMAGE_PATHS in path else None

    # ---- Entra ID (managed identity) -----------------------------------------------------------

    async def _identity_token(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
            return json_response({"error": "invalid_request"}, status=400)
        if request.query.get("resource") != "https://cognitiveservices.azure.com":
            return json_response({"error": "invalid_resource"}, status=400)
        token = "entra-" + secrets.token_urlsafe(16)
        self.tokens.add(token)
        expires_on = int(time.time()) + self.token_lifetime
        body = {
            "access_token": token,
            "expires_on": str(expires_on),
            "resource": request.query["resource"],
            "token_type": "Bearer",
        }
        return json_response(body)

    # ---- models --------------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.StreamResponse:
        version = request.query.get("api-version")
        if version not in (None, "preview", "v1"):
            return self._azure_error(400, "BadRequest", f"API version not supported: {version}")
        if (denied := self._check_auth(request[RECORDED])) is not None:
            return denied
        data: list[dict[str, Any]] = []
        for name, retired in self.listed:
            entry: dict[str, Any] = {
                "id": name,
                "object": "model",
                "created_at": 1745000000,
                "status": "succeeded",
                "lifecycle_status": "generally-available",
                "capabilities": {"inference": True, "fine_tune": False},
            }
            if retired is not None:
                entry["deprecation"] = {"inference": retired}
            data.append(entry)
        return json_response({"object": "list", "data": data})

    # ---- images --------------------------------------------------------------------------------

    async def _v1(self, request: web.Request) -> web.StreamResponse:
        version = request.query.get("api-version")
        if version not in (None, "preview", "v1"):
            return self._azure_error(400, "BadRequest", f"API version not supported: {version}")
        return await self._images(request, None)

    async def _legacy(self, request: web.Request) -> web.StreamResponse:
        version = request.query.get("api-version")
        if not version:
            return self._azure_error(404, "404", "Resource not found")
        if version not in LEGACY_VERSIONS:
            return self._azure_error(400, "BadRequest", "API version not supported")
        return await self._images(request, request.match_info["deployment"])

    async def _images(self, request: web.Request, deployment: str | None) -> web.StreamResponse:
        recorded: RecordedRequest = request[RECORDED]
        if (denied := self._check_auth(recorded)) is not None:
            return denied
        endpoint = request.match_info["endpoint"]
        if endpoint == "generations" and isinstance(recorded.json, dict):
            params, images, kind = dict(recorded.json), [], "image_generation"
        elif endpoint == "edits" and recorded.form is not None:
            images = recorded.files("image") + recorded.files("image[]")
            params, kind = _text_fields(recorded), "image_edit"
        else:
            return self._azure_error(400, "BadRequest", "Unsupported request.")
        name = deployment or str(params.get("model") or "")
        if name not in self.deployments:
            return self._azure_error(
                404, "DeploymentNotFound", "The API deployment for this resource does not exist."
            )
        if params.get("output_format") == "webp":
            return self._azure_error(400, "invalid_value", "Invalid value: 'webp'.")
        # Past the Azure parts, an OpenAI request: FakeOpenAI answers it for the deployed model.
        params["model"] = self.deployments[name]
        if _truthy(params.pop("stream", None)):
            return await self._stream(request, params, images=images, kind=kind)
        return self._answer(request, params, images=images)

    def _check_auth(self, recorded: RecordedRequest) -> web.Response | None:
        key = recorded.headers.get("api-key")
        scheme, _, token = recorded.headers.get("authorization", "").partition(" ")
        if key == self.api_key or (scheme.lower() == "bearer" and token in self.tokens):
            return None
        message = (
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide "
            "a valid key for an active subscription and use a correct regional API endpoint for your "
            "resource."
        )
        return self._azure_error(401, "401", message)

    def _content_policy(self, model: str) -> web.Response:
        """Azure's content filter: 400, code content_policy_violation, the verdict per category."""
        body = openai_error(
            "Your request was rejected as a result of our safety system. Your prompt may contain text "
            "that is not allowed by our safety system.",
            "invalid_request_error",
            "prompt",
            "content_policy_violation",
        )
        body["error"]["inner_error"] = {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_results": {
                "hate": {"filtered": False, "severity": "safe"},
                "self_harm": {"filtered": False, "severity": "safe"},
                "sexual": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": True, "severity": "high"},
                "jailbreak": {"filtered": False, "detected": False},
            },
        }
        return self._error(400, body)

    def _azure_error(self, status: int, code: str, message: str) -> web.Response:
        return json_response({"error": {"code": code, "message": message}}, status=status)


__all__ = ["DEFAULT_KEY", "IDENTITY_HEADER", "FakeAzureOpenAI", "retires"]
