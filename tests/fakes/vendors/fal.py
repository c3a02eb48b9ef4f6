"""fal's queue: POST /{owner}/{app}; GET …/requests/{id}/status; GET …/requests/{id}; PUT …/cancel."""

from __future__ import annotations

from aiohttp import web

from tests.fakes.server import RECORDED, json_response
from tests.fakes.vendors.base import Job, VendorFake

APPS = ("fal-ai/flux-2-pro",)


class FakeFal(VendorFake):
    vendor = "fal"

    def auth_value(self) -> str:
        return f"Key {self.api_key}"

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/{owner}/{app}", self._submit)
        app.router.add_post("/{owner}/{app}/edit", self._submit)
        app.router.add_get("/{owner}/{app}/requests/{id}/status", self._status)
        app.router.add_get("/{owner}/{app}/requests/{id}", self._response)
        app.router.add_put("/{owner}/{app}/requests/{id}/cancel", self._cancel)
        self.add_results_route(app)

    def _urls(self, app: str, job: Job) -> dict[str, str]:
        base = f"{self.url}/{app}/requests/{job.id}"
        return {"response_url": base, "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"}

    def _found(self, request: web.Request) -> tuple[str, Job | None]:
        app = f"{request.match_info['owner']}/{request.match_info['app']}"
        return app, self.job(request.match_info["id"])

    async def _submit(self, request: web.Request) -> web.StreamResponse:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        app = f"{request.match_info['owner']}/{request.match_info['app']}"
        if app not in APPS:
            return self.error_response(404, f"Application '{app}' not found")
        body = request[RECORDED].json or {}
        edit = request.path.endswith("/edit")
        sources = body.get("image_urls")
        if edit != bool(sources) or not all(
            str(u).startswith(("data:image/", "https://")) for u in sources or []
        ):
            return self.error_response(422, "image_urls: the edit app needs them, the plain app takes none")
        size = body.get("image_size") or {}
        job = self.new_job(
            request,
            size.get("width", 1024),
            size.get("height", 768),
            body.get("prompt", ""),
            count=body.get("num_images", 1),
            fmt=body.get("output_format", "jpeg"),
        )
        return json_response({"request_id": job.id, **self._urls(app, job), "queue_position": 0})

    async def _status(self, request: web.Request) -> web.StreamResponse:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        app, job = self._found(request)
        if job is None:
            return self.error_response(404, "Request not found")
        status = "COMPLETED" if self.poll(job) else "IN_PROGRESS"
        return json_response(
            {"status": status, **self._urls(app, job)}, status=200 if status == "COMPLETED" else 202
        )

    async def _response(self, request: web.Request) -> web.StreamResponse:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        _, job = self._found(request)
        if job is None or job.polls_left > 0:
            return self.error_response(400, "Request is still in progress")
        images = [
            {"url": url, "width": job.width, "height": job.height, "content_type": f"image/{job.fmt}"}
            for url in self.publish(job)
        ]
        return json_response({"images": images, "seed": 7, "has_nsfw_concepts": [job.moderated] * job.count})

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        _, job = self._found(request)
        if job is None:
            return self.error_response(404, "Request not found")
        job.cancelled = True
        return json_response({"status": "CANCELLATION_REQUESTED"}, status=202)
