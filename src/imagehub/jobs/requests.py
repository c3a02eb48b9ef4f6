"""A request as a job keeps it: JSON that turns back into the very request that was submitted.

Generations are their wire JSON. Edits and variations also carry their source images: uploads
as base64, URLs and data: URIs as sent (a URL is fetched again when the job runs, through the
same guard as on a synchronous request).
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from imagehub.accounts.durable import Unrun
from imagehub.inputs.sources import ImageEditCall, ImageSource, request_operation
from imagehub.schema.wire import ImageGenerationRequest


def _source(source: ImageSource) -> dict[str, str]:
    if source.data is not None:
        return {"param": source.param, "b64": base64.b64encode(source.data).decode("ascii")}
    return {"param": source.param, "text": source.text or ""}


def _unsource(item: dict[str, str]) -> ImageSource:
    if "b64" in item:
        return ImageSource(param=item["param"], data=base64.b64decode(item["b64"]))
    return ImageSource(param=item["param"], text=item["text"])


def dump_request(request: ImageGenerationRequest) -> str:
    fields = request.model_dump(exclude_none=True)
    document: dict[str, Any] = {"operation": request_operation(request), "fields": fields}
    if isinstance(request, ImageEditCall):
        document["sources"] = [_source(source) for source in request.sources]
        if request.mask_source is not None:
            document["mask"] = _source(request.mask_source)
    return orjson.dumps(document).decode()


def load_request(text: str) -> ImageGenerationRequest:
    document = orjson.loads(text)
    fields = document["fields"]
    if document["operation"] == "generate":
        return ImageGenerationRequest.model_validate(fields)
    sources = tuple(_unsource(item) for item in document.get("sources", []))
    mask = _unsource(document["mask"]) if "mask" in document else None
    return ImageEditCall.create(document["operation"], sources, mask, **fields)


def unrun_line(job_id: str, key_id: str, model: str, size: str | None, request: str) -> Unrun:
    """A job that never ran (a batch line cancelled first), as its usage record describes it."""
    n = orjson.loads(request).get("fields", {}).get("n", 1)
    return Unrun(job_id, key_id, model, size, n if isinstance(n, int) else 1)
