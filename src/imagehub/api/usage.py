"""GET /api/usage: spend and volume over a time range, grouped by key, model or day.

Admin keys see every key (and may filter with `key_id`); any other key sees only its own.
Records batched by other hub processes arrive within their flush interval (50 ms).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from imagehub.accounts.keys import KeyInfo
from imagehub.accounts.usage import GROUPS, GroupBy, UsageQuery, usage_records, usage_report
from imagehub.api.auth import require_key
from imagehub.api.responses import JsonResponse
from imagehub.errors import InvalidRequest

router = APIRouter(tags=["usage"])


def parse_time(value: str | None, default: float, param: str) -> datetime:
    """Unix seconds or ISO 8601 (naive means UTC)."""
    if value is None:
        return datetime.fromtimestamp(default, UTC)
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            f"'{param}' must be unix seconds or ISO 8601; got {value!r}.", param=param, code="invalid_value"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_group_by(value: str | None) -> tuple[GroupBy, ...]:
    if not value:
        return ("key", "model")
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    bad = [name for name in names if name not in GROUPS]
    if bad or not names:
        raise InvalidRequest(
            f"'group_by' takes a comma-separated subset of {', '.join(GROUPS)}.",
            param="group_by",
            code="invalid_value",
        )
    return names  # type: ignore[return-value]


def _query(request: Request, key: KeyInfo) -> UsageQuery:
    params = request.query_params
    now = time.time()
    start = parse_time(params.get("start"), now - 30 * 86400, "start")
    end = parse_time(params.get("end"), now + 1, "end")
    if end <= start:
        raise InvalidRequest("'end' must be after 'start'.", param="end", code="invalid_value")
    key_filter = params.get("key_id") if key.admin else key.id
    return UsageQuery(
        start=start, end=end, group_by=parse_group_by(params.get("group_by")), key_id=key_filter
    )


@router.get("/api/usage", summary="Usage and spend over a time range")
async def get_usage(request: Request, key: KeyInfo = Depends(require_key)) -> Response:
    query = _query(request, key)
    await request.app.state.usage_writer.flush()  # this process's queued records count too
    rows = await usage_report(request.app.state.sessions, query)
    return JsonResponse(
        {
            "object": "list",
            "start": int(query.start.timestamp()),
            "end": int(query.end.timestamp()),
            "group_by": list(query.group_by),
            "data": rows,
        }
    )


@router.get("/api/usage/records", summary="Individual usage records, newest first")
async def get_usage_records(request: Request, key: KeyInfo = Depends(require_key)) -> Response:
    limit_text = request.query_params.get("limit", "100")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
        raise InvalidRequest("'limit' must be 1-1000.", param="limit", code="invalid_value")
    after = request.query_params.get("after") or None
    await request.app.state.usage_writer.flush()
    rows, has_more = await usage_records(
        request.app.state.sessions, _query(request, key), int(limit_text), after
    )
    last_id = rows[-1]["request_id"] if rows else None
    return JsonResponse({"object": "list", "data": rows, "has_more": has_more, "last_id": last_id})
