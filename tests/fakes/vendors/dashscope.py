"""Alibaba DashScope: multimodal-generation (sync, or a task with X-DashScope-Async) and /tasks.

Failures that DashScope reports with HTTP 200 are imitated: a sync answer of `{code, message}`
and a task that ends FAILED with `output.code` (DataInspectionFailed for moderation).
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from tests.fakes.server import RECORDED, json_response
from tests.fakes.vendors.base import Job, VendorFake

MODELS = ("qwen-image-2.0", "wan2.7-image")
INSPECTION = {"code": "DataInspectionFailed", "message": "Input data may contain inappropriate content."}


class FakeDashScope(VendorFake):
    vendor = "dashscope"

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/services/aigc/multimodal-generation/generation", self._generate)
        app.router.add_get("/api/v1/tasks/{id}", self._task)
        app.router.add_post("/api/v1/tasks/{id}/cancel", self._cancel)
        self.add_results_route(app)

    def error_response(
        self, status: int, message: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        code = {429: "Throttling.RateQuota", 401: "InvalidApiKey"}.get(status, "InvalidParameter")
        body = {"code": code, "message": message or code, "request_id": str(uuid.uuid4())}
        return json_response(body, status=status, headers=headers)

    def _choices(self, job: Job) -> list[dict[str, Any]]:
        content = [{"image": url} for url in self.publish(job)]
        return [{"finish_reason": "stop", "message": {"role": "assistant", "content": content}}]

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        recorded = request[RECORDED]
        body = recorded.json or {}
        if body.get("model") not in MODELS:
            return self.error_response(400, "Model not exist.")
        parameters = body.get("parameters") or {}
        width, _, height = str(parameters.get("size", "1024*1024")).partition("*")
        content = body["input"]["messages"][0]["content"]
        texts = [part["text"] for part in content if "text" in part]
        images = [part["image"] for part in content if "image" in part]
        if len(texts) != 1 or not all(str(i).startswith(("data:image/", "https://")) for i in images):
            return self.error_response(400, "content: one text and image URLs or data URIs")
        text = texts[0]
        job = self.new_job(request, int(width), int(height), text, count=parameters.get("n", 1))
        if recorded.headers.get("x-dashscope-async") == "enable":
            return json_response(
                {"output": {"task_id": job.id, "task_status": "PENDING"}, "request_id": job.id}
            )
        if job.moderated:  # an error that arrives with HTTP 200
            return json_response({**INSPECTION, "request_id": job.id})
        usage = {"width": job.width, "height": job.height, "image_count": job.count}
        return json_response(
            {"output": {"choices": self._choices(job)}, "usage": usage, "request_id": job.id}
        )

    async def _task(self, request: web.Request) -> web.StreamResponse:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        job = self.job(request.match_info["id"])
        if job is None:
            return self.error_response(404, "task not found")
        output: dict[str, Any] = {"task_id": job.id}
        if job.cancelled:
            output["task_status"] = "CANCELED"
        elif not self.poll(job):
            output["task_status"] = "RUNNING"
        elif job.moderated:
            output.update(task_status="FAILED", **INSPECTION)
        else:
            output.update(task_status="SUCCEEDED", choices=self._choices(job))
        return json_response({"output": output, "request_id": str(uuid.uuid4())})

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        refused = self.authorized(request)
        if refused is not None:
            return refused
        job = self.job(request.match_info["id"])
        if job is None:
            return self.error_response(404, "task not found")
        job.cancelled = True
        return json_response({"request_id": str(uuid.uuid4())})
