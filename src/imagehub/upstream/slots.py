"""A per-deployment limit on calls in flight, with a bounded wait instead of a silent queue.

An image call holds its slot for seconds to a minute. A connection pool's own cap (aiohttp's
`limit`) made everything past it wait without bound and without a word; here a request past the
limit waits at most `wait_seconds`, first come first served, and is then refused, so the client
gets a 503 with Retry-After naming the deployment. O(1) per request: a counter, and a future
and one timer only for a request that has to wait.
"""

from __future__ import annotations

import asyncio
from collections import deque

from imagehub.errors import ServiceUnavailable


class DeploymentBusy(ServiceUnavailable):
    """Every slot of the deployment stayed taken for the whole bounded wait."""

    def __init__(self, slots: Slots) -> None:
        retry = max(1, round(slots.wait_seconds))
        super().__init__(
            f"Deployment {slots.name!r} is at its limit of {slots.limit} requests in flight and no "
            f"slot freed up within {slots.wait_seconds:g}s. Retry in {retry}s.",
            code="deployment_overloaded",
            headers={"Retry-After": str(retry)},
        )


class Slots:
    """At most `limit` holders at once; `release` hands a freed slot straight to the next waiter."""

    __slots__ = ("_waiters", "in_use", "limit", "name", "wait_seconds")

    def __init__(self, name: str, limit: int, wait_seconds: float) -> None:
        self.name = name
        self.limit = limit
        self.wait_seconds = wait_seconds
        self.in_use = 0
        self._waiters: deque[asyncio.Future[bool]] = deque()

    def try_acquire(self) -> bool:
        """Take a slot if one is free now (and nobody is queued ahead)."""
        if self.in_use < self.limit and not self._waiters:
            self.in_use += 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a slot, waiting at most `wait_seconds`; raise DeploymentBusy when none came."""
        if self.try_acquire():
            return
        if self.wait_seconds <= 0:
            raise DeploymentBusy(self)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(self.wait_seconds, _expire, waiter)
        try:
            granted = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.release()  # handed a slot in the same instant we were cancelled: pass it on
            raise
        finally:
            timer.cancel()
        if not granted:
            raise DeploymentBusy(self)

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # skip waiters that timed out or were cancelled
                waiter.set_result(True)  # the slot changes hands: in_use stays the same
                return
        self.in_use -= 1


def worker_share(limit: int, workers: int) -> int:
    """One process's part of a deployment's limit when `workers` processes share it (at least 1).

    Rounded down, so the processes together never exceed what the operator set.
    """
    return max(1, limit // max(1, workers))


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)
