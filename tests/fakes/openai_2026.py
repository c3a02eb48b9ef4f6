"""OpenAI as it answers in December 2026: shut-down image models are 404 model_not_found.

Everything else is `FakeOpenAI` (real wire, Bearer auth checked first). `GET /v1/models` lists
what is live, each with OpenAI's optional `shutdown_date`, as `imagehub models check` reads it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.openai import FakeOpenAI, openai_error
from tests.fakes.server import RECORDED, UploadedFile, json_response

#: Image models OpenAI has shut down by 2026-12-03 (catalog-2026-12.md, section 0).
SHUT_DOWN = frozenset(
    {
        "dall-e-2",
        "dall-e-3",
        "gpt-image-1",
        "gpt-image-1-mini",
        "gpt-image-1.5",
        "gpt-image-1.5-2025-12-16",
        "chatgpt-image-latest",
    }
)

#: What GET /v1/models lists: (id, created, shutdown_date). Non-image models are there too.
LISTED: tuple[tuple[str, int, str | None], ...] = (
    ("gpt-image-2", 1776729600, None),
    ("gpt-image-2-2026-04-21", 1776729600, None),
    ("gpt-image-2.5-flare", 1788825600, None),
    ("gpt-image-2.5-sunburst", 1788825600, None),
    ("gpt-image-2.6-flare", 1793750400, None),
    ("gpt-image-2.6-sunburst", 1793750400, None),
    ("gpt-5.6-terra", 1793750400, None),
    ("text-embedding-3-small", 1705953180, "2027-06-30"),
)


class FakeOpenAIDecember2026(FakeOpenAI):
    """The images API after the 2026 shutdowns; `gone` may add names a test wants refused."""

    def __init__(self, api_key: str = "sk-fake-openai-2026") -> None:
        super().__init__(api_key)
        self.gone: set[str] = set(SHUT_DOWN)
        self.listed: list[tuple[str, int, str | None]] = list(LISTED)

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/models", self._models)
        super().setup_routes(app)

    def received_models(self) -> list[str]:
        """Every `model` the hub sent, in order (JSON and multipart bodies)."""
        names = []
        for request in self.requests:
            if isinstance(request.json, dict) and "model" in request.json:
                names.append(str(request.json["model"]))
            elif request.form is not None:
                names.append(request.field("model") or "dall-e-2")
        return names

    async def _models(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._check_auth(request[RECORDED])) is not None:
            return denied
        data = [
            {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": "system",
                "shutdown_date": shutdown,
            }
            for name, created, shutdown in self.listed
        ]
        return json_response({"object": "list", "data": data})

    def _answer(
        self,
        request: web.Request,
        params: dict[str, Any],
        images: list[UploadedFile],
        needs_prompt: bool = True,
    ) -> web.Response:
        model = str(params.get("model") or "dall-e-2")
        if model in self.gone:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return self._error(404, openai_error(message, "invalid_request_error", None, "model_not_found"))
        return super()._answer(request, params, images, needs_prompt)
