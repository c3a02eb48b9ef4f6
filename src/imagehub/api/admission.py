"""Admission to a generation: the key may generate, within its limits; where its URLs point."""

from __future__ import annotations

import calendar
from datetime import date
from email.utils import formatdate

from starlette.requests import Request

from imagehub.accounts.keys import KeyInfo
from imagehub.accounts.ratelimit import Permit, RateLimiter
from imagehub.api.recorded import request_context
from imagehub.catalog import Catalog, today
from imagehub.errors import Forbidden
from imagehub.observability import logcontext
from imagehub.payloads import ANSWERS
from imagehub.schema.images import ImageJob
from imagehub.schema.wire import ImageGenerationRequest
from imagehub.service.validation import default_model


def public_base_url(request: Request) -> str:
    """IMAGEHUB_PUBLIC_URL, else the scheme and Host the client used (proxy headers only when trusted,
    which uvicorn has already applied to the scope)."""
    configured: str | None = request.app.state.settings.public_url
    if configured:
        return configured
    host = request.headers.get("host")
    if not host:
        server = request.scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{request.scope.get('scheme', 'http')}://{host}"


async def admit(
    request: Request, key: KeyInfo, body: ImageGenerationRequest, *, concurrency: bool = True
) -> Permit:
    """A generating key within its rate and concurrency limits; the permit is the caller's to release.

    `concurrency=False` for an asynchronous submission: it counts against the key's requests per
    minute now, and takes a concurrency slot only while its job runs (jobs/runner.py).
    """
    context = request_context(request)
    context.model = body.model or default_model(body)
    logcontext.bind(key_id=key.id, model=context.model)
    if key.admin:
        raise Forbidden("Admin keys manage the hub; use a live or sandbox key to generate.", code="admin_key")
    if concurrency:
        ANSWERS.check_admission()  # 503 + Retry-After while answers already fill the byte budget
    limiter: RateLimiter = request.app.state.rate_limiter
    limit = key.concurrency_limit if concurrency else None
    return await limiter.acquire(key.id, rpm=key.rpm_limit, concurrency=limit)


def _stamp(day: date) -> int:
    return calendar.timegm(day.timetuple())


def served_headers(catalog: Catalog, model: str | None, job: ImageJob | None) -> dict[str, str]:
    """Who served the request, and for a name going or gone, RFC 9745 Deprecation and RFC 8594 Sunset.

    A successor serving a retired model names itself in x-imagehub-model; a model that is only
    deprecated (still served natively) gets the headers too, so clients hear before it goes.
    """
    headers = alias_headers(catalog, model)
    if job is None:
        return headers
    deprecated, sunset = (
        (job.asked.deprecated, job.asked.sunset)
        if job.asked is not None
        else job.spec.lifecycle.dates_for(job.spec.providers[0])
    )
    if job.asked is None and not job.spec.lifecycle.deprecated_on(today()):
        return headers
    headers["x-imagehub-model"] = job.spec.name
    if deprecated is not None or sunset is not None:
        headers["Deprecation"] = f"@{_stamp(deprecated or sunset)}"  # type: ignore[arg-type]
    if sunset is not None:
        headers["Sunset"] = formatdate(_stamp(sunset), usegmt=True)
    return headers


def alias_headers(catalog: Catalog, model: str | None) -> dict[str, str]:
    """For a deprecated alias: RFC 9745 Deprecation, RFC 8594 Sunset, and the model that served it."""
    found = catalog.lookup(model) if model else None
    if found is None or found.alias is None:
        return {}
    headers = {"x-imagehub-model": found.spec.name}
    shutdown = found.alias.shutdown_date
    if found.alias.deprecated and shutdown is not None:  # the loader requires the date
        headers["Deprecation"] = f"@{_stamp(found.alias.notice or shutdown)}"
        headers["Sunset"] = formatdate(_stamp(shutdown), usegmt=True)
    return headers
