"""fal's queue API: submit to queue.fal.run, poll the status URL, fetch the response URL.

`POST /{app}` answers `{request_id, status_url, response_url, cancel_url}`; the status is
`IN_QUEUE`, `IN_PROGRESS` or `COMPLETED`; the result holds `images[].url` on fal.media and
`has_nsfw_concepts` per image. A hang-up cancels with `PUT {cancel_url}`. Auth is
`Authorization: Key …`. Sizes go as `image_size: {width, height}`, `n` as `num_images`;
source images go to the model's `/edit` app as `image_urls` (data URIs).
"""

from __future__ import annotations

from typing import Any, ClassVar

from imagehub.schema.images import ImageJob
from imagehub.upstream.providers.declared import (
    Call,
    DeclaredProvider,
    Done,
    Image,
    Next,
    Outcome,
    data_uri,
    malformed,
    moderated,
)
from imagehub.upstream.providers.errors import Retryable

_WORKING = frozenset({"IN_QUEUE", "IN_PROGRESS"})
_NAMES = {"prompt_upsampling": "enable_prompt_expansion"}


class FalProvider(DeclaredProvider):
    kind: ClassVar[str] = "fal"
    vendor: ClassVar[str] = "fal"
    result_hosts: ClassVar[tuple[str, ...]] = ("queue.fal.run", "fal.media", ".fal.media")

    def auth(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Key {api_key}"}

    def request(self, job: ImageJob, count: int) -> Call:
        body: dict[str, Any] = {
            "prompt": job.prompt,
            "image_size": {"width": job.width, "height": job.height},
            "num_images": count,
            "output_format": job.output_format,
        }
        if job.seed is not None:
            body["seed"] = job.seed
        for name, value in job.extras:
            # fal's FLUX.2 schema takes safety_tolerance as the strings "1"-"5", and calls prompt
            # upsampling enable_prompt_expansion (fal's flex page; pro's as reported by 3P pages).
            body[_NAMES.get(name, name)] = str(value) if name == "safety_tolerance" else value
        app = job.spec.upstream_id(self.kind)
        if job.images:  # fal serves edits as the model's own `/edit` app, taking image URLs
            body["image_urls"] = [data_uri(image) for image in job.images]
            app = f"{app}/edit"
        return Call("POST", self.url(f"/{app}"), json=body)

    def read(self, payload: Any, job: ImageJob) -> Outcome:
        if not isinstance(payload, dict):
            raise malformed(self.label)
        if "images" in payload:
            return self._result(payload, job)
        status = payload.get("status")
        response_url = payload.get("response_url")
        if not isinstance(response_url, str):
            raise malformed(self.label)
        if status is None or status in _WORKING:  # the submission, or a job still queued or running
            cancel_url = payload.get("cancel_url") or f"{response_url}/cancel"
            status_url = payload.get("status_url") or f"{response_url}/status"
            return Next(Call("GET", str(status_url)), cancel=Call("PUT", str(cancel_url)))
        if status == "COMPLETED":
            if payload.get("error"):
                raise Retryable(f"{self.label}: the request failed ({payload['error']}).", status=502)
            return Next(Call("GET", response_url), after=0.0)
        raise malformed(self.label, f"an unknown status {status!r}")

    def _result(self, payload: dict[str, Any], job: ImageJob) -> Done:
        flags = payload.get("has_nsfw_concepts") or []
        if any(flag is True for flag in flags):
            raise moderated(self.vendor, "NSFW content detected")
        images = payload.get("images")
        if not isinstance(images, list) or not all(
            isinstance(i, dict) and isinstance(i.get("url"), str) for i in images
        ):
            raise malformed(self.label, "a result without images")
        return Done(tuple(Image(url=i["url"], format=job.output_format) for i in images))
