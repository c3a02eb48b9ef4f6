"""A job as clients see it: the job object, and once it succeeded, its ImagesResponse.

Results are stored with image URLs relative to the hub (`/api/images/files/...?<signature>`), so
whichever hub answers the read puts its own public base URL in front; URLs that are already
absolute (a bucket's presigned URL, a CDN) are returned as they are.
"""

from __future__ import annotations

from typing import Any

import orjson

from imagehub.jobs.models import TERMINAL, ImageJobRow


def _seconds(ms: int | None) -> int | None:
    return None if ms is None else ms // 1000


def images_response(row: ImageJobRow, base_url: str) -> dict[str, Any] | None:
    """The ImagesResponse a synchronous call would have answered, URLs made absolute."""
    if row.result is None:
        return None
    response: dict[str, Any] = orjson.loads(row.result)
    for item in response.get("data", []):
        url = item.get("url")
        if isinstance(url, str) and url.startswith("/"):
            item["url"] = base_url + url
    return response


def job_object(row: ImageJobRow, base_url: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id,
        "object": "image.job",
        "status": row.status,
        "operation": row.operation,
        "model": row.model,
        "size": row.size,
        "created_at": _seconds(row.created_at),
        "started_at": _seconds(row.started_at),
        "finished_at": _seconds(row.finished_at),
        "expires_at": _seconds(row.expires_at),
        "result": images_response(row, base_url),
        "error": orjson.loads(row.error) if row.error and row.status in TERMINAL else None,
    }
    if row.batch_id is not None:
        body["batch_id"] = row.batch_id
        body["custom_id"] = row.custom_id
    return body
