"""Black Forest Labs' API (FLUX.2): submit a job, poll its `polling_url`, download `result.sample`.

BFL takes pixel sizes (`width`, `height`, multiples of 16), so the catalog's sizes pass through.
One job makes one image: `n` is several concurrent jobs. Regional hosts (api.eu.bfl.ai,
api.us.bfl.ai) are a deployment's `base_url`; polling and results stay on `.bfl.ai`, where BFL's
answers point (the polling URL names the host that holds the job). BFL has no cancel call.
Source images (edits) go as `input_image`, `input_image_2`, … in base64.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

from imagehub.schema.images import ImageJob
from imagehub.upstream.providers.declared import (
    Call,
    DeclaredProvider,
    Done,
    Image,
    Next,
    Outcome,
    malformed,
    moderated,
)
from imagehub.upstream.providers.errors import ClientFault, Retryable

_MODERATED = frozenset({"Content Moderated", "Request Moderated"})
_WORKING = frozenset({"Pending", "Queued", "Processing"})


class BFLProvider(DeclaredProvider):
    kind: ClassVar[str] = "bfl"
    vendor: ClassVar[str] = "Black Forest Labs"
    result_hosts: ClassVar[tuple[str, ...]] = (".bfl.ai",)

    def auth(self, api_key: str) -> dict[str, str]:
        return {"x-key": api_key}

    def request(self, job: ImageJob, count: int) -> Call:
        body: dict[str, Any] = {
            "prompt": job.prompt,
            "width": job.width,
            "height": job.height,
            "output_format": job.output_format,
        }
        if job.seed is not None:
            body["seed"] = job.seed
        for name in ("safety_tolerance", "prompt_upsampling"):
            if job.extra(name) is not None:
                body[name] = job.extra(name)
        for index, image in enumerate(job.images):  # input_image, input_image_2, … as base64
            name = "input_image" if index == 0 else f"input_image_{index + 1}"
            body[name] = base64.b64encode(image.data or b"").decode("ascii")
        return Call("POST", self.url(f"/{job.spec.upstream_id(self.kind)}"), json=body)

    def read(self, payload: Any, job: ImageJob) -> Outcome:
        if not isinstance(payload, dict):
            raise malformed(self.label)
        status = payload.get("status")
        if status is None and isinstance(payload.get("id"), str):  # the submission's answer
            polling = payload.get("polling_url") or self.url(f"/get_result?id={payload['id']}")
            return Next(Call("GET", str(polling)))
        if status in _WORKING:
            return Next(Call("GET", self._poll_url(payload)))
        if status == "Ready":
            sample = (payload.get("result") or {}).get("sample")
            if not isinstance(sample, str):
                raise malformed(self.label, "a finished job without its image")
            return Done((Image(url=sample, format=job.output_format),))
        if status in _MODERATED:
            raise moderated(self.vendor, status)
        if status == "Task not found":
            raise Retryable(f"{self.label} lost the job.", status=502, code="upstream_bad_response")
        detail = str(payload.get("details") or payload.get("error") or status)
        if status == "Error":
            raise Retryable(f"{self.label}: the job failed ({detail}).", status=502, code="upstream_error")
        raise ClientFault(f"{self.vendor} refused the job: {detail}", status=400)

    def _poll_url(self, payload: dict[str, Any]) -> str:
        polling = payload.get("polling_url")
        return str(polling) if polling else self.url(f"/get_result?id={payload.get('id')}")
