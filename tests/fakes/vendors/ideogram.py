"""Ideogram: POST /v1/ideogram-v3/generate, multipart, Api-Key header; temporary image URLs.

Also /v1/ideogram-v3/inpaint (files `image` and `mask`, the mask black where it repaints and
white elsewhere, the image's size; answered at the image's size) and /v1/ideogram-v4/generate
(`text_prompt`, 2K resolutions)."""

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
        app.router.add_post("/v1/ideogram-v3/inpaint", self._inpaint)
        app.router.add_post("/v1/ideogram-v4/generate", self._generate_v4)
        self.add_results_route(app)

    async def _generate(self, request: web.Request) -> web.Response:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        recorded = request[RECORDED]
        if recorded.form is None:
            return self.error_response(400, "multipart/form-data expected")
        if recorded.field("rendering_speed") not in ("TURBO", "DEFAULT", "QUALITY"):
            return self.error_response(422, "rendering_speed")
        resolution = recorded.field("resolution") or "1024x1024"
        return self._answer(request, parse_size(resolution), recorded.field("prompt") or "")

    async def _inpaint(self, request: web.Request) -> web.StreamResponse:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        recorded = request[RECORDED]
        if recorded.form is None or not recorded.field("prompt"):
            return self.error_response(400, "multipart/form-data with a prompt expected")
        if recorded.field("resolution") is not None:
            return self.error_response(422, "resolution: not a parameter of inpaint")
        image, problem = self.uploaded_image(request, "image")
        mask, mask_problem = self.uploaded_image(request, "mask")
        if image is None or mask is None:
            return self.error_response(400, problem or mask_problem)
        if mask.size != image.size:
            return self.error_response(400, "mask: must be the same size as the image")
        counts = mask.convert("L").histogram()
        if any(counts[1:255]):
            return self.error_response(400, "mask: black and white only")
        return self._answer(request, image.size, recorded.field("prompt") or "")

    async def _generate_v4(self, request: web.Request) -> web.StreamResponse:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        recorded = request[RECORDED]
        if recorded.form is None or not recorded.field("text_prompt") or recorded.field("prompt"):
            return self.error_response(422, "text_prompt (not prompt) expected")
        resolution = recorded.field("resolution") or "2048x2048"
        return self._answer(request, parse_size(resolution), recorded.field("text_prompt") or "")

    def _answer(self, request: web.Request, size: tuple[int, int], prompt: str) -> web.Response:
        recorded = request[RECORDED]
        width, height = size
        resolution = f"{width}x{height}"
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
