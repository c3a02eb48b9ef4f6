"""Replicate: POST /v1/models/{owner}/{name}/predictions (Prefer: wait), GET and cancel predictions."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.server import RECORDED, json_response
from tests.fakes.vendors.base import Job, VendorFake

MODELS = ("black-forest-labs/flux-2-pro",)
NSFW = "NSFW content detected. Try running it again, or try a different prompt."


class FakeReplicate(VendorFake):
    vendor = "replicate"

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/models/{owner}/{name}/predictions", self._create)
        app.router.add_get("/v1/predictions/{id}", self._get)
        app.router.add_post("/v1/predictions/{id}/cancel", self._cancel)
        self.add_results_route(app)

    def _prediction(self, job: Job, status: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": job.id,
            "status": status,
            "output": None,
            "error": None,
            "urls": {
                "get": f"{self.url}/v1/predictions/{job.id}",
                "cancel": f"{self.url}/v1/predictions/{job.id}/cancel",
            },
        }
        if status == "succeeded":
            body["output"] = self.publish(job)[0]
        if status == "failed":
            body["error"] = NSFW
        return body

    def _state_of(self, job: Job) -> str:
        if job.cancelled:
            return "canceled"
        if not self.poll(job):
            return "processing"
        return "failed" if job.moderated else "succeeded"

    async def _create(self, request: web.Request) -> web.StreamResponse:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        model = f"{request.match_info['owner']}/{request.match_info['name']}"
        if model not in MODELS:
            return self.error_response(404, "The requested resource could not be found.")
        inputs = (request[RECORDED].json or {}).get("input") or {}
        if any(not str(u).startswith(("data:image/", "https://")) for u in inputs.get("input_images", [])):
            return self.error_response(422, "input_images: URLs expected")
        if inputs.get("aspect_ratio") != "custom" or "width" not in inputs:
            return self.error_response(422, "width and height need aspect_ratio custom")
        job = self.new_job(
            request,
            inputs["width"],
            inputs["height"],
            inputs.get("prompt", ""),
            fmt=inputs.get("output_format", "webp"),
        )
        # Prefer: wait holds the answer until the prediction ends; with polls needed it ends "starting".
        if job.polls_left == 0:
            return json_response(self._prediction(job, self._state_of(job)), status=201)
        return json_response(self._prediction(job, "starting"), status=201)

    async def _get(self, request: web.Request) -> web.StreamResponse:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        job = self.job(request.match_info["id"])
        if job is None:
            return self.error_response(404, "Not found.")
        return json_response(self._prediction(job, self._state_of(job)))

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        job = self.job(request.match_info["id"])
        if job is None:
            return self.error_response(404, "Not found.")
        job.cancelled = True
        return json_response(self._prediction(job, "canceled"))
