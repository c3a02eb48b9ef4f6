"""Stability AI v2beta: POST /v2beta/stable-image/generate/{ultra|core|sd3}, multipart, JSON answer;
POST /v2beta/stable-image/edit/inpaint with the files `image` and (optional) `mask`, a greyscale
image whose white marks what to repaint, answered at the source image's size."""

from __future__ import annotations

import base64

from aiohttp import web

from tests.fakes.server import RECORDED, json_response
from tests.fakes.vendors.base import VendorFake

#: The pixels each aspect ratio comes out at (the catalog's table; see vendors.toml's note).
RATIOS = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "21:9": (1536, 640),
    "9:21": (640, 1536),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "5:4": (1088, 896),
    "4:5": (896, 1088),
}
SD3_MODELS = ("sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium")


class FakeStability(VendorFake):
    vendor = "stability"

    def __init__(self, api_key: str = "sk-fake-stability") -> None:
        super().__init__(api_key)
        #: Answer the next so many generations with finish_reason CONTENT_FILTERED.
        self.filter_next = 0

    def reset(self) -> None:
        super().reset()
        self.filter_next = 0

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/v2beta/stable-image/generate/{endpoint}", self._generate)
        app.router.add_post("/v2beta/stable-image/edit/{service}", self._edit)

    def error_response(
        self, status: int, message: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        body = {
            "id": "e1",
            "name": "bad_request" if status < 500 else "server_error",
            "errors": [message or "error"],
        }
        return json_response(body, status=status, headers=headers)

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        recorded = request[RECORDED]
        if recorded.form is None:
            return self.error_response(400, "the body must be multipart/form-data")
        if recorded.headers.get("accept") != "application/json":
            return self.error_response(400, "this fake answers JSON only")
        endpoint = request.match_info["endpoint"]
        model = recorded.field("model")
        if endpoint not in ("ultra", "core", "sd3") or (endpoint == "sd3" and model not in SD3_MODELS):
            return self.error_response(404, "unknown endpoint or model")
        ratio = recorded.field("aspect_ratio") or "1:1"
        if ratio not in RATIOS:
            return self.error_response(400, f"aspect_ratio: {ratio} is not supported")
        fault = self.fault(request)
        if fault is not None and fault.kind == "content_policy":
            body = {
                "id": "m1",
                "name": "content_moderation",
                "errors": ["Your request was flagged by our content moderation system."],
            }
            return json_response(body, status=403)
        fmt = recorded.field("output_format") or "png"
        width, height = RATIOS[ratio]
        if self.filter_next > 0:
            self.filter_next -= 1
            return json_response({"image": "", "finish_reason": "CONTENT_FILTERED", "seed": 1})
        data = self.image_for(width, height, recorded.field("prompt") or "", fmt=fmt)
        return json_response(
            {"image": base64.b64encode(data).decode(), "finish_reason": "SUCCESS", "seed": 42}
        )

    async def _edit(self, request: web.Request) -> web.StreamResponse:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        recorded = request[RECORDED]
        if recorded.form is None or recorded.headers.get("accept") != "application/json":
            return self.error_response(400, "multipart/form-data with Accept: application/json expected")
        if request.match_info["service"] != "inpaint":
            return self.error_response(404, "unknown edit service")
        if not recorded.field("prompt"):
            return self.error_response(400, "prompt: required")
        for name in ("aspect_ratio", "model"):
            if recorded.field(name) is not None:
                return self.error_response(400, f"{name}: not a parameter of inpaint")
        image, problem = self.uploaded_image(request, "image")
        if image is None:
            return self.error_response(400, problem)
        if recorded.files("mask"):
            mask, problem = self.uploaded_image(request, "mask")
            if mask is None:
                return self.error_response(400, problem)
            if mask.mode not in ("L", "1"):
                return self.error_response(400, "mask: a greyscale image expected")
        elif "A" not in image.getbands():
            return self.error_response(400, "no mask, and the image has no alpha channel to use")
        fmt = recorded.field("output_format") or "png"
        data = self.image_for(image.width, image.height, recorded.field("prompt") or "", fmt=fmt)
        body = {"image": base64.b64encode(data).decode(), "finish_reason": "SUCCESS", "seed": 7}
        return json_response(body)
