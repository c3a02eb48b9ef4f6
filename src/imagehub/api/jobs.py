"""Asynchronous image requests: `Prefer: respond-async` / `wait=N` on generations and edits, and
GET /v1/images/jobs[/{id}], POST /v1/images/jobs/{id}/cancel (also under /api/images/jobs).

A key sees only its own jobs: another key's job id answers 404, as an unknown one does.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from imagehub.accounts.idempotency import StoredResponse
from imagehub.accounts.keys import KeyInfo
from imagehub.accounts.ratelimit import rate_limit_headers
from imagehub.api.admission import admit, public_base_url
from imagehub.api.auth import require_key
from imagehub.api.idempotent import Claim
from imagehub.api.pages import cursor_page
from imagehub.api.prefer import Preference
from imagehub.api.recorded import request_context
from imagehub.errors import InvalidRequest, NotFound
from imagehub.jobs.models import SUCCEEDED, ImageJobRow
from imagehub.jobs.submission import JobService
from imagehub.jobs.views import images_response, job_object
from imagehub.schema.wire import ImageGenerationRequest

router = APIRouter(tags=["jobs"])
PREFIXES = ("/api/images/jobs", "/v1/images/jobs")


def _jobs(request: Request) -> JobService:
    jobs: JobService = request.app.state.jobs
    return jobs


def _prefix(request: Request) -> str:
    return "/v1/images/jobs" if request.url.path.startswith("/v1/") else "/api/images/jobs"


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


async def submit_job(
    request: Request,
    key: KeyInfo,
    body: ImageGenerationRequest,
    claim: Claim | None,
    prefer: Preference,
) -> Response:
    """Queue the request as a job: 202 with the job, or with `wait`, the answer if it came in time."""
    if body.stream:
        raise InvalidRequest(
            "'stream' cannot be combined with Prefer: respond-async; poll the job or use a webhook.",
            param="stream",
            code="unsupported_parameter",
        )
    try:
        permit = await admit(request, key, body, concurrency=False)
        try:
            row = await _jobs(request).submit(body, key, request_context(request))
        finally:
            await permit.release()
        base = public_base_url(request)
        location = f"{base}{_prefix(request)}/{row.id}"
        headers = {
            "Location": location,
            "Preference-Applied": prefer.applied(),
            **rate_limit_headers(permit.state),
        }
        response = _json(job_object(row, base), 202, headers)
        if claim is not None:
            await claim.keep(StoredResponse(202, headers, bytes(response.body)))
    except BaseException:
        if claim is not None:
            await claim.free()
        raise
    if prefer.wait:
        ended = await _jobs(request).wait(row.id, prefer.wait)
        if ended is not None and ended.status == SUCCEEDED:
            return _json(images_response(ended, base), 200, {**headers, "x-imagehub-job-id": row.id})
        if ended is not None:
            return _json(job_object(ended, base), 202, headers)
    return response


async def _own_job(request: Request, key: KeyInfo, job_id: str) -> ImageJobRow:
    row = await _jobs(request).queue.get(job_id, key.id)
    if row is None:
        raise NotFound(f"No job with id '{job_id}'.", param="job_id", code="job_not_found")
    return row


async def get_job(request: Request, job_id: str, key: KeyInfo = Depends(require_key)) -> Response:
    row = await _own_job(request, key, job_id)
    return _json(job_object(row, public_base_url(request)))


async def cancel_job(request: Request, job_id: str, key: KeyInfo = Depends(require_key)) -> Response:
    row = await _jobs(request).cancel(job_id, key.id)
    if row is None:
        raise NotFound(f"No job with id '{job_id}'.", param="job_id", code="job_not_found")
    return _json(job_object(row, public_base_url(request)))


async def list_jobs(
    request: Request, after: str | None = None, limit: int = 20, key: KeyInfo = Depends(require_key)
) -> Response:
    """The key's jobs, newest first, a page at a time (`after` = the previous page's last_id)."""
    if not 1 <= limit <= 100:
        raise InvalidRequest("'limit' must be between 1 and 100.", param="limit", code="invalid_value")
    rows = await _jobs(request).queue.page(key.id, after=after, limit=limit + 1)
    base = public_base_url(request)
    return _json(cursor_page([job_object(row, base) for row in rows[:limit]], len(rows) > limit))


for _prefix_path in PREFIXES:
    _public = _prefix_path.startswith("/api")
    router.add_api_route(
        _prefix_path, list_jobs, methods=["GET"], include_in_schema=_public, summary="List jobs"
    )
    router.add_api_route(
        _prefix_path + "/{job_id}", get_job, methods=["GET"], include_in_schema=_public, summary="Get a job"
    )
    router.add_api_route(
        _prefix_path + "/{job_id}/cancel",
        cancel_job,
        methods=["POST"],
        include_in_schema=_public,
        summary="Cancel a job",
    )
