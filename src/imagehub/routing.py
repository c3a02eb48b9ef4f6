"""Choose who serves a job, retry what is worth retrying, fall over, and cool failing ones down.

Sandbox keys always get the sandbox engine. Live keys get the deployments configured for the
model, tried in weighted-random order; each gets `max_retries` extra attempts with jittered
exponential backoff (or the upstream's Retry-After), and a deployment that keeps failing sits out
a cooldown before one probe request lets it back in. A deployment with a `max_concurrent` limit
that is full is passed over for the next one; when every candidate is full, the request waits
a bounded time for the first one's slot (see slots.py), then gets a 503 naming it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from imagehub import metrics
from imagehub.circuit import CircuitBreaker
from imagehub.deployments import RoutingPolicy
from imagehub.errors import HubError, ServiceUnavailable
from imagehub.jobs import GenerationResult, ImageJob
from imagehub.providers.base import ImageProvider
from imagehub.providers.errors import ClientFault, DeploymentFault, ProviderError, Retryable
from imagehub.providers.sandbox import SandboxProvider
from imagehub.slots import Slots

log = logging.getLogger("imagehub.routing")


class UpstreamError(HubError):
    """What the client sees when the upstreams could not deliver."""

    type = "server_error"


class UpstreamRejected(HubError):
    """An upstream's own verdict on the request (e.g. content policy), passed on unchanged."""

    def __init__(self, fault: ClientFault) -> None:
        super().__init__(fault.message, param=fault.param, code=fault.code, status=fault.status)
        self.type = fault.type


@dataclass
class Route:
    """One deployment's provider, its weight and its breaker."""

    provider: ImageProvider
    models: frozenset[str]
    weight: float
    breaker: CircuitBreaker
    slots: Slots | None = None  # the deployment's limit on calls in flight, if it has one


class Router:
    def __init__(
        self,
        routes: Sequence[Route] = (),
        policy: RoutingPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.sandbox = SandboxProvider()
        self.routes = list(routes)
        self.policy = policy or RoutingPolicy()
        self._rng = rng or random.Random()

    def candidates(self, model: str, pinned: str | None = None) -> list[Route]:
        return [
            route
            for route in self.routes
            if model in route.models and (pinned is None or route.provider.kind == pinned)
        ]

    def serves(self, model: str) -> bool:
        return bool(self.candidates(model))

    def _weighted_order(self, routes: list[Route]) -> list[Route]:
        """Weighted random order without replacement (Efraimidis-Spirakis keys)."""
        return sorted(routes, key=lambda route: self._rng.random() ** (1.0 / route.weight), reverse=True)

    async def generate(self, job: ImageJob, *, sandbox: bool) -> GenerationResult:
        if sandbox:
            return await self.sandbox.generate(job)
        candidates = self.candidates(job.spec.name, job.provider)
        if not candidates:
            pin = f" through provider {job.provider!r}" if job.provider else ""
            raise ServiceUnavailable(
                f"No provider is configured for model {job.spec.name!r}{pin} on this hub. "
                "Ask the operator to configure one, or use a sandbox key to test offline.",
                param="model",
                code="model_not_available",
            )
        last: ProviderError | None = None
        tried = 0
        full: list[Route] = []
        for route in self._weighted_order(candidates):
            if route.slots is not None and not route.slots.try_acquire():
                full.append(route)
                continue
            outcome = await self._serve_on(route, job)
            if isinstance(outcome, GenerationResult):
                return outcome
            if outcome is not None:
                tried, last = tried + 1, outcome
        now = time.monotonic()
        waitable = [route for route in full if route.breaker.retry_in(now) == 0]
        if waitable:
            # Every other deployment failed or was cooling down: wait (bounded) for a slot.
            route = waitable[0]
            assert route.slots is not None
            metrics.UPSTREAM_ERRORS.labels(route.provider.name, "at_limit").inc()
            await route.slots.acquire()
            outcome = await self._serve_on(route, job)
            if isinstance(outcome, GenerationResult):
                return outcome
            if outcome is not None:
                tried, last = tried + 1, outcome
        if tried == 0:
            now = time.monotonic()
            wait = max(1, round(min(route.breaker.retry_in(now) for route in candidates)))
            raise ServiceUnavailable(
                f"Every deployment for {job.spec.name!r} is cooling down after failures. Retry in {wait}s.",
                code="upstream_unavailable",
                headers={"Retry-After": str(wait)},
            )
        raise _final_error(job, last, tried)

    async def _serve_on(self, route: Route, job: ImageJob) -> GenerationResult | ProviderError | None:
        """One deployment's attempts, holding its slot (already taken) throughout.

        Returns the result, the error to fall over with, or None when its breaker is open.
        """
        try:
            if not route.breaker.allows(time.monotonic()):
                return None
            try:
                result = await self._attempts(route, job)
            except ClientFault as fault:
                route.breaker.release_probe()
                raise UpstreamRejected(fault) from None
            except (Retryable, DeploymentFault) as error:
                route.breaker.record_failure(time.monotonic())
                log.warning(
                    "deployment %s failed for %s: %s", route.provider.name, job.spec.name, error.message
                )
                return error
            except BaseException:
                route.breaker.release_probe()
                raise
            route.breaker.record_success()
            return result
        finally:
            if route.slots is not None:
                route.slots.release()

    async def _attempts(self, route: Route, job: ImageJob) -> GenerationResult:
        policy = self.policy
        name = route.provider.name
        for attempt in range(policy.max_retries + 1):
            try:
                result = await route.provider.generate(job)
            except ProviderError as error:
                metrics.UPSTREAM_CALLS.labels(name, "error").inc()
                metrics.UPSTREAM_ERRORS.labels(name, _error_kind(error)).inc()
                if not isinstance(error, Retryable) or attempt == policy.max_retries:
                    raise
                delay = self._retry_delay(error, attempt)
                if delay is None:
                    raise  # waiting that long helps nobody: try the next deployment
                log.info(
                    "retrying %s on %s in %.2fs (attempt %d): %s",
                    job.spec.name,
                    name,
                    delay,
                    attempt + 2,
                    error.message,
                )
                await asyncio.sleep(delay)
            else:
                metrics.UPSTREAM_CALLS.labels(name, "ok").inc()
                return result
        raise AssertionError("unreachable")

    def _retry_delay(self, error: Retryable, attempt: int) -> float | None:
        """Retry-After when the upstream gave one (None if too long), else full-jitter backoff."""
        policy = self.policy
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= policy.max_retry_after_seconds else None
        ceiling = min(policy.backoff_max_seconds, policy.backoff_base_seconds * 2**attempt)
        return self._rng.uniform(0, ceiling)

    async def close(self) -> None:
        for route in self.routes:
            await route.provider.close()


def _final_error(job: ImageJob, last: ProviderError | None, tried: int) -> HubError:
    detail = last.message if last else "no answer"
    prefix = f"The upstream for {job.spec.name!r} failed ({tried} deployment(s) tried). Last error: {detail}"
    if isinstance(last, Retryable) and last.status == 429:
        headers = {"Retry-After": str(max(1, round(last.retry_after or 1)))}
        error = UpstreamError(prefix, code="upstream_rate_limited", status=429, headers=headers)
        error.type = "rate_limit_error"
        return error
    if isinstance(last, Retryable) and last.timeout:
        return UpstreamError(prefix, code="upstream_timeout", status=504)
    return UpstreamError(prefix, code="upstream_error", status=502)


def _error_kind(error: ProviderError) -> str:
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
