"""Black Forest Labs: POST /v1/{model} -> {id, polling_url}; GET /v1/get_result?id= -> status."""

from __future__ import annotations

from aiohttp import web

from tests.fakes.server import RECORDED, json_response
from tests.fakes.vendors.base import VendorFake

MODELS = ("flux-2-pro", "flux-2-max", "flux-2-flex", "flux-2-klein-4b", "flux-2-klein-9b")


class FakeBFL(VendorFake):
    auth_header = "x-key"
    vendor = "bfl"

    def auth_value(self) -> str:
        return self.api_key

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/{model}", self._submit)
        app.router.add_get("/v1/get_result", self._get_result)
        self.add_results_route(app)

    async def _submit(self, request: web.Request) -> web.StreamResponse:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        if request.match_info["model"] not in MODELS:
            return self.error_response(404, "Not Found")
        body = request[RECORDED].json or {}
        width, height = body.get("width", 1024), body.get("height", 768)
        if width % 16 or height % 16 or not 64 <= width <= 2048 or not 64 <= height <= 2048:
            return self.error_response(422, "width and height must be multiples of 16")
        job = self.new_job(
            request, width, height, body.get("prompt", ""), fmt=body.get("output_format", "jpeg")
        )
        return json_response({"id": job.id, "polling_url": f"{self.url}/v1/get_result?id={job.id}"})

    async def _get_result(self, request: web.Request) -> web.StreamResponse:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        job = self.job(request.query.get("id", ""))
        if job is None:
            return json_response({"id": request.query.get("id"), "status": "Task not found"})
        if not self.poll(job):
            return json_response({"id": job.id, "status": "Pending", "progress": 0.5})
        if job.moderated:
            return json_response(
                {"id": job.id, "status": "Content Moderated", "details": {"Moderation Reasons": ["x"]}}
            )
        sample = self.publish(job)[0]
        return json_response(
            {"id": job.id, "status": "Ready", "result": {"sample": sample, "prompt": job.prompt}}
        )
