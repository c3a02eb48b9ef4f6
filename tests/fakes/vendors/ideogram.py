"""Ideogram: POST /v1/ideogram-v3/generate, multipart, Api-Key header; temporary image URLs."""

from __future__ import annotations

import datetime

from aiohttp import web

from tests.fakes.server import RECORDED, json_response, parse_size
from tests.fakes.vendors.base import VendorFake


class FakeIdeogram(VendorFake):
    auth_header = "api-key"
    vendor = "ideogram"

    def auth_value(self) -> str:
        return self.api_key

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/ideogram-v3/generate", self._generate)
        self.add_results_route(app)

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        recorded = request[RECORDED]
        if recorded.form is None:
            return self.error_response(400, "multipart/form-data expected")
        if recorded.field("rendering_speed") not in ("TURBO", "DEFAULT", "QUALITY"):
            return self.error_response(422, "rendering_speed")
        resolution = recorded.field("resolution") or "1024x1024"
        width, height = parse_size(resolution)
        prompt = recorded.field("prompt") or ""
        job = self.new_job(request, width, height, prompt, count=int(recorded.field("num_images") or 1))
        created = datetime.datetime.now(datetime.UTC).isoformat()
        data = [
            {
                "url": None if job.moderated else url,
                "is_image_safe": not job.moderated,
                "prompt": prompt,
                "resolution": resolution,
                "seed": 12,
                "style_type": recorded.field("style_type") or "GENERAL",
            }
            for url in self.publish(job)
        ]
        return json_response({"created": created, "data": data})
