"""Recraft, xAI and Seedream (ModelArk): OpenAI-shaped POST …/images/generations with Bearer auth."""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from tests.fakes.server import RECORDED, json_response, parse_size
from tests.fakes.vendors.base import Job, VendorFake

#: What a vector model answers; the script is what a hostile or compromised answer could carry.
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}"><rect width="{w}" height="{h}"/>'
    "<script>fetch('/api/account?k='+localStorage.getItem('imagehub-key'))</script></svg>"
)
#: xAI's aspect ratio and resolution -> pixels (the catalog's table; see vendors.toml's note).
XAI_1K = {
    "1:1": (1024, 1024),
    "4:3": (1184, 888),
    "3:4": (888, 1184),
    "16:9": (1280, 720),
    "9:16": (720, 1280),
}


class _OpenAIShaped(VendorFake):
    prefix = "/v1"
    models: tuple[str, ...] = ()

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post(f"{self.prefix}/images/generations", self._generate)
        self.add_results_route(app)

    def error_response(
        self, status: int, message: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        return json_response(
            {"error": {"message": message or f"HTTP {status}", "code": str(status)}}, status, headers
        )

    def size_of(self, body: dict[str, Any]) -> tuple[int, int] | None:
        return parse_size(body.get("size"))

    def answer(self, job: Job, body: dict[str, Any]) -> web.Response:
        return json_response({"created": 1, "data": [{"url": url} for url in self.publish(job)]})

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        body = request[RECORDED].json or {}
        if body.get("model") not in self.models:
            return self.error_response(404, f"model {body.get('model')} not found")
        size = self.size_of(body)
        if size is None:
            return self.error_response(400, "unsupported size")
        fault = self.fault(request)
        if fault is not None and fault.kind == "content_policy":
            return self.error_response(400, "The request was rejected by the content moderation system.")
        job = self.new_job(
            request, size[0], size[1], body.get("prompt", ""), count=body.get("n", 1), fmt="png"
        )
        return self.answer(job, body)


class FakeRecraft(_OpenAIShaped):
    vendor = "recraft"
    models = ("recraftv4_1", "recraftv4_1_vector", "recraftv4_1_pro")

    def answer(self, job: Job, body: dict[str, Any]) -> web.Response:
        if body["model"].endswith("_vector"):
            for index in range(job.count):
                name = f"{job.id}-{index}.svg"
                self.files.put(name, SVG.format(w=job.width, h=job.height).encode(), "image/svg+xml")
                job.urls.append(f"{self.url}/results/{name}")
        return super().answer(job, body)


class FakeXAI(_OpenAIShaped):
    vendor = "xai"
    models = ("grok-imagine-image-2.0", "grok-imagine-image")

    def setup_routes(self, app: web.Application) -> None:
        super().setup_routes(app)
        app.router.add_post("/v1/images/edits", self._edit)

    async def _edit(self, request: web.Request) -> web.StreamResponse:
        recorded = request[RECORDED]
        if recorded.json is None:
            return self.error_response(400, "xAI takes edits as JSON, not multipart")
        image = recorded.json.get("image") or {}
        if not str(image.get("url", "")).startswith(("data:image/", "https://")):
            return self.error_response(400, "image.url: a URL or data URI")
        return await self._generate(request)

    def size_of(self, body: dict[str, Any]) -> tuple[int, int] | None:
        base = XAI_1K.get(str(body.get("aspect_ratio")))
        scale = {"1k": 1, "2k": 2}.get(str(body.get("resolution", "1k")))
        return (base[0] * scale, base[1] * scale) if base and scale else None

    def answer(self, job: Job, body: dict[str, Any]) -> web.Response:
        data = [
            {
                "b64_json": base64.b64encode(
                    self.image_for(job.width, job.height, job.prompt, i, "jpeg")
                ).decode()
            }
            for i in range(job.count)
        ]
        return json_response({"data": data})


class FakeSeedream(_OpenAIShaped):
    vendor = "seedream"
    prefix = "/api/v3"
    models = ("seedream-4-5-251128",)

    def answer(self, job: Job, body: dict[str, Any]) -> web.Response:
        if body.get("watermark") is not False:
            return self.error_response(400, "this fake expects watermark false")
        if not all(str(i).startswith(("data:image/", "https://")) for i in body.get("image", [])):
            return self.error_response(400, "image: URLs or data URIs")
        data = [{"url": url, "size": f"{job.width}x{job.height}"} for url in self.publish(job)]
        return json_response(
            {"model": body["model"], "created": 1, "data": data, "usage": {"generated_images": 1}}
        )
