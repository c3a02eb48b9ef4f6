"""What the client sees when the upstreams could not deliver, and how failures are counted.

The router decides whom to try; this module turns the last failure into the client's error
(502, 504, 429 with Retry-After, 503 for busy engines, 410 for a model gone upstream) and into
the small fixed set of labels the errors metric uses.
"""

from __future__ import annotations

from imagehub.errors import HubError, ServiceUnavailable
from imagehub.schema.images import ImageJob
from imagehub.upstream.providers.errors import (
    ClientFault,
    DeploymentFault,
    ProviderError,
    Retryable,
    TryElsewhere,
)


class UpstreamError(HubError):
    """What the client sees when the upstreams could not deliver."""

    type = "server_error"


class ModelGoneUpstream(HubError):
    """Every deployment tried answered model_not_found: the name is gone upstream.

    The service serves it by its successor; only when none exists does the client see this 410.
    """

    status = 410
    type = "invalid_request_error"


class UpstreamRejected(HubError):
    """An upstream's own verdict on the request (e.g. content policy), passed on unchanged."""

    def __init__(self, fault: ClientFault) -> None:
        super().__init__(fault.message, param=fault.param, code=fault.code, status=fault.status)
        self.type = fault.type


def final_error(job: ImageJob, last: ProviderError | None, tried: int) -> HubError:
    detail = last.message if last else "no answer"
    if isinstance(last, TryElsewhere) and last.busy:
        wait = str(max(1, round(last.retry_after or 1)))
        return ServiceUnavailable(
            f"Every engine for {job.spec.name!r} is busy ({tried} tried). Retry in {wait}s.",
            code="engine_overloaded",
            headers={"Retry-After": wait},
        )
    prefix = f"The upstream for {job.spec.name!r} failed ({tried} deployment(s) tried). Last error: {detail}"
    if isinstance(last, Retryable) and last.status == 429:
        headers = {"Retry-After": str(max(1, round(last.retry_after or 1)))}
        error = UpstreamError(prefix, code="upstream_rate_limited", status=429, headers=headers)
        error.type = "rate_limit_error"
        return error
    if isinstance(last, Retryable) and last.timeout:
        return UpstreamError(prefix, code="upstream_timeout", status=504)
    return UpstreamError(prefix, code="upstream_error", status=502)


def error_kind(error: ProviderError) -> str:
    """A small, fixed set of label values for the errors metric."""
    if isinstance(error, Retryable):
        if error.timeout:
            return "timeout"
        if error.status == 429:
            return "rate_limited"
        if (
            error.status is not None
            and error.status >= 500
            and error.code not in ("upstream_connection_error", "upstream_bad_response")
        ):
            return "server_error"
        return error.code.removeprefix("upstream_") if error.code else "retryable"
    if isinstance(error, DeploymentFault):
        return "deployment"
    return "rejected"
