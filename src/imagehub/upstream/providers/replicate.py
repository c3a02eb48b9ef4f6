"""Replicate's predictions API: official models by name, `Prefer: wait`, then polling.

`POST /models/{owner}/{name}/predictions` with `Prefer: wait=N` holds the answer up to N seconds;
a prediction still `starting` or `processing` then is polled at `GET /predictions/{id}` and,
when the client hangs up, cancelled with `POST /predictions/{id}/cancel`. Output is a URL (or a
list) on replicate.delivery. Models take their own inputs: the catalog names each model's id
(`upstream_ids.replicate`), and sizes go as `aspect_ratio = "custom"` with `width` and `height`.
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
from imagehub.upstream.providers.errors import ClientFault, Retryable

_WORKING = frozenset({"starting", "processing"})
#: Words of a failed prediction's error that mean a safety checker refused it.
_MODERATION_WORDS = ("nsfw", "sensitive", "content moderat", "safety")


class ReplicateProvider(DeclaredProvider):
    kind: ClassVar[str] = "replicate"
    vendor: ClassVar[str] = "Replicate"
    result_hosts: ClassVar[tuple[str, ...]] = ("replicate.delivery", ".replicate.delivery")

    def request(self, job: ImageJob, count: int) -> Call:
        inputs: dict[str, Any] = {
            "prompt": job.prompt,
            "aspect_ratio": "custom",
            "width": job.width,
            "height": job.height,
            "output_format": job.output_format,
        }
        if job.seed is not None:
            inputs["seed"] = job.seed
        for name, value in job.extras:
            inputs[name] = value
        if job.images:
            inputs["input_images"] = [data_uri(image) for image in job.images]
        wait = max(1, min(60, int(self.timeout / 2)))
        return Call(
            "POST",
            self.url(f"/models/{job.spec.upstream_id(self.kind)}/predictions"),
            json={"input": inputs},
            headers={"Prefer": f"wait={wait}"},
        )

    def read(self, payload: Any, job: ImageJob) -> Outcome:
        if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
            raise malformed(self.label)
        prediction = payload["id"]
        status = payload.get("status")
        if status in _WORKING:
            return Next(
                Call("GET", self.url(f"/predictions/{prediction}")),
                cancel=Call("POST", self.url(f"/predictions/{prediction}/cancel")),
            )
        if status == "succeeded":
            output = payload.get("output")
            urls = output if isinstance(output, list) else [output]
            if not urls or not all(isinstance(url, str) for url in urls):
                raise malformed(self.label, "a prediction without an image")
            return Done(tuple(Image(url=url, format=job.output_format) for url in urls))
        error = str(payload.get("error") or status)
        if any(word in error.lower() for word in _MODERATION_WORDS):
            raise moderated(self.vendor, error)
        if status == "failed":
            raise Retryable(
                f"{self.label}: the prediction failed ({error}).", status=502, code="upstream_error"
            )
        raise ClientFault(f"{self.vendor} ended the prediction: {error}", status=502, type_="server_error")
