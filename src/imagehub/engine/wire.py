"""What the engine answers, in OpenAI's images wire format: one JSON body, or SSE events.

The engine has no store, so images always travel as `b64_json`; the hub stores them when its
client asked for `url`. Event payloads are those of the hub's own streams (streaming/session.py)
so the hub, or an SDK pointed straight at an engine, reads them alike.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from imagehub.schema.events import PartialImage
from imagehub.schema.images import GeneratedImage, GenerationResult, ImageJob

#: OpenAI's usage shape for a completed event; an engine counts no tokens.
NO_USAGE: dict[str, Any] = {
    "input_tokens": 0,
    "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
    "output_tokens": 0,
    "total_tokens": 0,
}


def b64(image: GeneratedImage) -> str:
    if image.b64 is not None:
        return image.b64
    return base64.b64encode(image.data or b"").decode("ascii")


def _common(job: ImageJob, fmt: str) -> dict[str, Any]:
    return {
        "created_at": int(time.time()),
        "background": "opaque",
        "output_format": fmt,
        "quality": job.quality or "auto",
        "size": f"{job.width}x{job.height}",
    }


def images_body(job: ImageJob, result: GenerationResult) -> dict[str, Any]:
    """OpenAI's ImagesResponse for a whole answer."""
    fmt = result.images[0].format if result.images else job.output_format
    return {
        "created": int(time.time()),
        "data": [{"b64_json": b64(image)} for image in result.images],
        "output_format": fmt,
        "size": f"{job.width}x{job.height}",
        "quality": job.quality or "auto",
    }


def partial_event(prefix: str, job: ImageJob, item: PartialImage) -> tuple[str, dict[str, Any]]:
    kind = f"{prefix}.partial_image"
    payload = {"type": kind, "b64_json": item.b64, "partial_image_index": item.partial_index}
    return kind, {**payload, **_common(job, item.format)}


def completed_event(prefix: str, job: ImageJob, image: GeneratedImage) -> tuple[str, dict[str, Any]]:
    kind = f"{prefix}.completed"
    return kind, {"type": kind, "b64_json": b64(image), **_common(job, image.format), "usage": NO_USAGE}
