"""Choose who serves a job, retry what is worth retrying, fall over, and cool failing ones down.

Sandbox keys always get the sandbox engine. Live keys get the deployments configured for the
model, tried in weighted-random order (engines that report their load: shortest queue first,
one that is down last); each gets `max_retries` extra attempts with jittered
exponential backoff (or the upstream's Retry-After), and a deployment that keeps failing sits out
a cooldown before one probe request lets it back in.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Generic, TypeVar

from imagehub.catalog import Catalog, load_catalog, today
from imagehub.errors import Forbidden, ServiceUnavailable
from imagehub.observability import metrics
from imagehub.schema.events import StreamItem, whole_answer
from imagehub.schema.images import GenerationResult, ImageJob
from imagehub.upstream.circuit import CircuitBreaker
from imagehub.upstream.deployments import RoutingPolicy, how_to_configure
from imagehub.upstream.failures import (
    ModelGoneUpstream,
    UpstreamError,
    UpstreamRejected,
    error_kind,
    final_error,
)
from imagehub.upstream.providers.base import ImageProvider, Load
from imagehub.upstream.providers.errors import (
    ClientFault,
    DeploymentFault,
    ModelGone,
    ProviderError,
    Retryable,
    TryElsewhere,
)
from imagehub.upstream.providers.sandbox.provider import SandboxProvider
from imagehub.upstream.slots import Slots

__all__ = ["ModelGoneUpstream", "OpenedStream", "RestOfStream", "Route", "Router", "UpstreamError"]

log = logging.getLogger("imagehub.routing")
T = TypeVar("T")


@dataclass
class Route:
    """One deployment's provider, its weight and its breaker."""

    provider: ImageProvider
    models: frozenset[str]
    weight: float
    breaker: CircuitBreaker
    slots: Slots | None = None  # the deployment's limit on calls in flight, if it has one
    # Models the operator listed by name: served here natively even past their shutdown date.
    listed: frozenset[str] = field(default_factory=frozenset)


class Router:
    def __init__(
        self,
        routes: Sequence[Route] = (),
        policy: RoutingPolicy | None = None,
        rng: random.Random | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.sandbox = SandboxProvider()
        self.routes = list(routes)
        self.policy = policy or RoutingPolicy()
        self._rng = rng or random.Random()
        self._catalog = catalog or load_catalog()
        # (deployment, model) pairs whose upstream answered model_not_found: never sent again.
        self._gone: set[tuple[str, str]] = set()

    def candidates(self, model: str, pinned: str | None = None, on: date | None = None) -> list[Route]:
        """The deployments that serve `model` today: a shut-down name only where listed by name."""
        routes = [
            route
            for route in self.routes
            if model in route.models and (pinned is None or route.provider.kind == pinned)
        ]
        if not routes:
            return routes
        day = on or today()
        return [route for route in routes if self._live_on(route, model, day)]

    def _live_on(self, route: Route, model: str, on: date) -> bool:
        if (route.provider.name, model) in self._gone:
            return False
        if model in route.listed:
            return True
        spec = self._catalog.get(model)
        return spec is None or not spec.lifecycle.shut_down(on, route.provider.kind)

    def serves(self, model: str, pinned: str | None = None) -> bool:
        return bool(self.candidates(model, pinned))

    def reported_gone(self, model: str) -> bool:
        """Whether an upstream has answered model_not_found for `model` since start-up."""
        return any(name == model for _, name in self._gone)

    def _weighted_order(self, routes: list[Route]) -> list[Route]:
        """Weighted random order without replacement (Efraimidis-Spirakis keys)."""
        return sorted(routes, key=lambda route: self._rng.random() ** (1.0 / route.weight), reverse=True)

    def _order(self, routes: list[Route]) -> list[Route]:
        """Weighted random order, then (stable) ranked by load where deployments report it:
        up before down, shorter queue first. Weights still break ties; others rank as idle."""
        return sorted(self._weighted_order(routes), key=_load_rank)

    async def generate(self, job: ImageJob, *, sandbox: bool) -> GenerationResult:
        return await self._dispatch(job, sandbox, lambda provider: provider.generate(job))

    async def open_stream(self, job: ImageJob, *, sandbox: bool, partial_images: int) -> OpenedStream:
        """Start the job's stream, from a provider that streams or from one whole answer.

        Retries and fall-over apply until the first item has arrived (nothing has reached the
        client yet); a failure after that ends the stream with an UpstreamError.
        """
        opening = self._dispatch(
            job, sandbox, lambda provider: _open(provider, job, partial_images), keep=_held_by_stream
        )
        return await opening

    async def _dispatch(
        self,
        job: ImageJob,
        sandbox: bool,
        call: Callable[[ImageProvider], Awaitable[T]],
        keep: Callable[[T, Slots], T] | None = None,
    ) -> T:
        """Serve `call` on the job's deployments: weighted order, retries, fall-over, slot limits.

        `keep` hands a deployment's slot over to what the call returned (a stream holds it until
        it ends); otherwise the slot is freed when the call returns.
        """
        if sandbox:
            return await call(self.sandbox)
        candidates = self.candidates(job.spec.name, job.provider)
        if not candidates:
            # Not 503: retrying cannot help until the operator acts, and the SDKs retry 5xx.
            pin = f" through provider {job.provider!r}" if job.provider else ""
            providers = (job.provider,) if job.provider else job.spec.providers
            asked = job.asked.spec.name if job.asked is not None else None
            name = f"{asked!r} (shut down, served by {job.spec.name!r})" if asked else repr(job.spec.name)
            raise Forbidden(
                f"No deployment serves model {name}{pin} on this hub. "
                f"{how_to_configure(job.spec.name, providers)} A sandbox key serves every model offline.",
                param="model",
                code="model_not_available",
            )
        candidates = _able(candidates, job)
        last: ProviderError | None = None
        tried = gone = 0
        full: list[Route] = []
        for route in self._order(candidates):
            if route.slots is not None and not route.slots.try_acquire():
                full.append(route)
                continue
            outcome = await self._serve_on(route, job, call, keep)
            if outcome.served:
                return outcome.value  # type: ignore[return-value]
            if outcome.error is not None:
                tried, last = tried + 1, outcome.error
                gone += isinstance(outcome.error, ModelGone)
        if tried and gone == tried and not full:
            raise ModelGoneUpstream(
                f"The model {job.spec.name!r} no longer exists upstream ({last.message if last else ''}).",
                param="model",
                code="model_shut_down",
            )
        now = time.monotonic()
        waitable = [route for route in full if route.breaker.retry_in(now) == 0]
        if waitable:
            # Every other deployment failed or was cooling down: wait (bounded) for a slot.
            route = waitable[0]
            assert route.slots is not None
            metrics.UPSTREAM_ERRORS.labels(route.provider.name, "at_limit").inc()
            await route.slots.acquire()
            outcome = await self._serve_on(route, job, call, keep)
            if outcome.served:
                return outcome.value  # type: ignore[return-value]
            if outcome.error is not None:
                tried, last = tried + 1, outcome.error
        if tried == 0:
            now = time.monotonic()
            wait = max(1, round(min(route.breaker.retry_in(now) for route in candidates)))
            raise ServiceUnavailable(
                f"Every deployment for {job.spec.name!r} is cooling down after failures. Retry in {wait}s.",
                code="upstream_unavailable",
                headers={"Retry-After": str(wait)},
            )
        raise final_error(job, last, tried)

    async def _serve_on(
        self,
        route: Route,
        job: ImageJob,
        call: Callable[[ImageProvider], Awaitable[T]],
        keep: Callable[[T, Slots], T] | None,
    ) -> _Outcome[T]:
        """One deployment's attempts, holding its slot (already taken) throughout.

        Served with the value, or not served: with the error to fall over with, or none when
        its breaker is open.
        """
        handed_over = False
        try:
            if not route.breaker.allows(time.monotonic()):
                return _Outcome()
            try:
                result = await self._attempts(route, job, call)
            except ClientFault as fault:
                route.breaker.release_probe()
                raise UpstreamRejected(fault) from None
            except ModelGone as error:
                route.breaker.release_probe()  # a lifecycle fact, not a failing deployment
                self._gone.add((route.provider.name, job.spec.name))
                log.warning(
                    "catalog entry %r is stale: deployment %s answered model_not_found (%s); "
                    "it is served by its successor from now on. Set its shutdown_date in "
                    "IMAGEHUB_CATALOG_FILE or run `imagehub models check`.",
                    job.spec.name,
                    route.provider.name,
                    error.message,
                )
                return _Outcome(error=error)
            except (Retryable, DeploymentFault) as error:
                if isinstance(error, TryElsewhere) and error.busy:
                    route.breaker.release_probe()  # busy is not broken: no mark against it
                else:
                    route.breaker.record_failure(time.monotonic())
                log.warning(
                    "deployment %s failed for %s: %s", route.provider.name, job.spec.name, error.message
                )
                return _Outcome(error=error)
            except BaseException:
                route.breaker.release_probe()
                raise
            route.breaker.record_success()
            if keep is not None and route.slots is not None:
                result, handed_over = keep(result, route.slots), True
            return _Outcome(result, served=True)
        finally:
            if route.slots is not None and not handed_over:
                route.slots.release()

    async def _attempts(
        self, route: Route, job: ImageJob, call: Callable[[ImageProvider], Awaitable[T]]
    ) -> T:
        policy = self.policy
        name = route.provider.name
        for attempt in range(policy.max_retries + 1):
            try:
                result = await call(route.provider)
            except ProviderError as error:
                metrics.UPSTREAM_CALLS.labels(name, "error").inc()
                metrics.UPSTREAM_ERRORS.labels(name, error_kind(error)).inc()
                if not isinstance(error, Retryable) or isinstance(error, TryElsewhere):
                    raise
                if attempt == policy.max_retries:
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


@dataclass(slots=True)
class _Outcome(Generic[T]):
    value: T | None = None
    error: ProviderError | None = None
    served: bool = False


@dataclass(frozen=True, slots=True)
class OpenedStream:
    """A provider's stream whose first item has arrived; `rest` yields the others."""

    provider: str
    first: StreamItem
    rest: RestOfStream


class RestOfStream:
    """The rest of a provider's stream: its failures as the client's errors (no retry now),
    and, once it ends or is closed (even unstarted), its upstream closed and its slot freed."""

    def __init__(self, items: AsyncGenerator[StreamItem, None], job: ImageJob) -> None:
        self._items = items
        self._job = job
        self._slots: Slots | None = None

    def holding(self, slots: Slots) -> RestOfStream:
        self._slots = slots
        return self

    def __aiter__(self) -> RestOfStream:
        return self

    async def __anext__(self) -> StreamItem:
        try:
            return await anext(self._items)
        except StopAsyncIteration:
            await self.aclose()
            raise
        except ProviderError as error:
            await self.aclose()
            if isinstance(error, ClientFault):
                raise UpstreamRejected(error) from None
            raise UpstreamError(
                f"The upstream for {self._job.spec.name!r} failed mid-stream: {error.message}",
                code=error.code or "upstream_error",
                status=error.status or 502,
            ) from None

    async def aclose(self) -> None:
        try:
            await self._items.aclose()
        finally:
            slots, self._slots = self._slots, None
            if slots is not None:
                slots.release()


def _held_by_stream(opened: OpenedStream, slots: Slots) -> OpenedStream:
    opened.rest.holding(slots)
    return opened


async def _open(provider: ImageProvider, job: ImageJob, partial_images: int) -> OpenedStream:
    """Start the provider's stream and wait for its first item (so failures here can be retried)."""
    stream = getattr(provider, "stream", None)
    items = stream(job, partial_images) if stream is not None else _whole(provider, job)
    try:
        first = await anext(items)
    except BaseException:
        await items.aclose()
        raise
    return OpenedStream(provider.name, first, RestOfStream(items, job))


async def _whole(provider: ImageProvider, job: ImageJob) -> AsyncGenerator[StreamItem, None]:
    """A provider that does not stream: each image as soon as the one answer is in, then it all."""
    async for item in whole_answer(await provider.generate(job)):
        yield item


def _able(routes: list[Route], job: ImageJob) -> list[Route]:
    """The routes whose platform can do this job; none: the first refusal, as the client's 400."""
    refusals: list[ClientFault | None] = []
    for route in routes:
        check = getattr(route.provider, "refusal", None)
        refusals.append(check(job) if check is not None else None)
    able = [route for route, refusal in zip(routes, refusals, strict=True) if refusal is None]
    if not able and refusals[0] is not None:
        raise UpstreamRejected(refusals[0])
    return able


def _load_rank(route: Route) -> tuple[bool, float]:
    report = getattr(route.provider, "current_load", None)
    load: Load = report() if report is not None else Load(healthy=True, queue=0.0)
    return (not load.healthy, load.queue)
