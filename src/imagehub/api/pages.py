"""OpenAI's cursor page, one shape for every list the hub answers (files, batches, jobs).

`{"object": "list", "data", "first_id", "last_id", "has_more"}`: a client passes `last_id` as
`after` for the next page. Callers fetch one row more than they show; its presence is `has_more`.
"""

from __future__ import annotations

from typing import Any


def cursor_page(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """The page of `data` (rendered objects, each with an `id`)."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
