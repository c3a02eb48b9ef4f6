"""Alibaba Cloud Model Studio (DashScope): Qwen-Image and Wan, synchronous or as tasks.

Both post to `/services/aigc/multimodal-generation/generation` with `input.messages` and
`parameters.size` as "W*H". A model the catalog marks `api = "async"` is sent with
`X-DashScope-Async: enable`: the answer is a task, polled at `/tasks/{id}` and cancelled at
`/tasks/{id}/cancel` when the client hangs up (DashScope cancels only queued tasks). DashScope
reports some failures with HTTP 200: a body with `code` and `message`, or a task whose status
is FAILED. Those are read here like any HTTP error; `DataInspectionFailed` (its content
moderation) is `content_policy_violation`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from imagehub.schema.images import ImageJob
from imagehub.upstream.providers.declared import (
    CONTENT_POLICY,
    Call,
    DeclaredProvider,
    Done,
    Image,
    Next,
    Outcome,
    data_uri,
    error_text,
    malformed,
    moderated,
)
from imagehub.upstream.providers.errors import ClientFault, Retryable
from imagehub.upstream.providers.http import UpstreamErrorInfo

_WORKING = frozenset({"PENDING", "RUNNING"})
_MODERATION_CODES = frozenset({"DataInspectionFailed", "IPInfringementSuspect", "data_inspection_failed"})
_RETRYABLE_CODES = frozenset({"Throttling", "Throttling.RateQuota", "InternalError", "InternalError.Algo"})


class DashScopeProvider(DeclaredProvider):
    kind: ClassVar[str] = "dashscope"
    vendor: ClassVar[str] = "Alibaba Cloud Model Studio"
    result_hosts: ClassVar[tuple[str, ...]] = (".aliyuncs.com",)

    def request(self, job: ImageJob, count: int) -> Call:
        parameters: dict[str, Any] = {"size": job.size.replace("x", "*"), "n": count, "watermark": False}
        if job.seed is not None:
            parameters["seed"] = job.seed
        if job.extra("negative_prompt") is not None:
            parameters["negative_prompt"] = job.extra("negative_prompt")
        if job.extra("prompt_upsampling") is not None:
            parameters["prompt_extend"] = job.extra("prompt_upsampling")
        images = [{"image": data_uri(image)} for image in job.images]
        body = {
            "model": job.spec.upstream_id(self.kind),
            "input": {"messages": [{"role": "user", "content": [*images, {"text": job.prompt}]}]},
            "parameters": parameters,
        }
        headers = {"X-DashScope-Async": "enable"} if job.spec.api == "async" else {}
        return Call(
            "POST", self.url("/services/aigc/multimodal-generation/generation"), json=body, headers=headers
        )

    def read(self, payload: Any, job: ImageJob) -> Outcome:
        if not isinstance(payload, dict):
            raise malformed(self.label)
        output: dict[str, Any] = payload["output"] if isinstance(payload.get("output"), dict) else {}
        code = payload.get("code") or output.get("code")
        if code:  # an error that came with HTTP 200
            raise self._failure(str(code), str(payload.get("message") or output.get("message") or code))
        status = output.get("task_status")
        task = output.get("task_id")
        if status in _WORKING and isinstance(task, str):
            return Next(
                Call("GET", self.url(f"/tasks/{task}")),
                cancel=Call("POST", self.url(f"/tasks/{task}/cancel")),
            )
        if status not in (None, "SUCCEEDED"):
            raise Retryable(f"{self.label}: the task ended {status}.", status=502, code="upstream_error")
        urls = [
            item["url"] for item in output.get("results") or [] if isinstance(item, dict) and "url" in item
        ]
        for choice in output.get("choices") or []:
            for part in (choice.get("message") or {}).get("content") or []:
                if isinstance(part, dict) and isinstance(part.get("image"), str):
                    urls.append(part["image"])
        if not urls:
            raise malformed(self.label, "an answer without images")
        return Done(tuple(Image(url=url) for url in urls))

    def _failure(self, code: str, message: str) -> ClientFault | Retryable:
        if code in _MODERATION_CODES:
            return moderated(self.vendor, message)
        if code in _RETRYABLE_CODES:
            return Retryable(f"{self.label}: {message}", status=503, code=code)
        return ClientFault(message, code=code)

    def parse_error(self, status: int, payload: Any) -> UpstreamErrorInfo:
        code = error_text(payload, "code", "output.code")
        message = error_text(payload, "message", "output.message") or f"HTTP {status}"
        return UpstreamErrorInfo(message, CONTENT_POLICY if code in _MODERATION_CODES else code)
