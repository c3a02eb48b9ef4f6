"""Waiting for an asynchronous upstream job: submit, poll with backoff and jitter, give up in time.

Many vendors (BFL, fal, Replicate, DashScope) answer a submission with a job to poll instead of
an image. Every such wait is one coroutine asleep in `asyncio.sleep` between polls, so a thousand
jobs in flight cost a thousand sleeping tasks: no thread, no busy loop. The whole wait stays
under the deployment's timeout; when the client hangs up (the task is cancelled) or the time is
up, the job is cancelled upstream where the vendor allows it, so nobody pays for an unread image.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from imagehub.upstream.providers.errors import Retryable

T = TypeVar("T")

#: A bound on polls of one job whatever the timeout: a vendor that never finishes cannot spin us.
MAX_POLLS = 10_000


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits between polls: `first`, growing by `factor` up to `most`, each varied by ±`jitter`.

    Jitter spreads the polls of jobs submitted together, so they do not reach the vendor in bursts.
    """

    first: float = 0.25
    factor: float = 1.5
    most: float = 2.0
    jitter: float = 0.2

    def delay(self, attempt: int) -> float:
        base = min(self.most, self.first * self.factor ** min(attempt, 64))
        return max(0.0, base * (1 + random.uniform(-self.jitter, self.jitter)))


@dataclass(slots=True)
class Poll(Generic[T]):
    """Not done yet: how to ask again, how to cancel (None: the vendor cannot), and any wait hint."""

    ask: Callable[[], Awaitable[T | Poll[T]]]
    cancel: Callable[[], Coroutine[Any, Any, Any]] | None = None
    after: float | None = None  # seconds the vendor asked us to wait; None: our backoff


class BackgroundCalls:
    """Fire-and-forget calls that must outlive a cancelled request (an upstream job's cancel).

    The tasks are held here (asyncio keeps only weak references) and awaited on close.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # a failed cancel is not worth a warning about an unretrieved error

    async def drain(self, timeout: float = 5.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)


async def wait_for_job(
    first: T | Poll[T],
    *,
    timeout: float,
    backoff: Backoff,
    background: BackgroundCalls,
    label: str,
) -> T:
    """Poll until the job answers something that is not a `Poll`, within `timeout` seconds.

    On cancellation or timeout the job's cancel call (if any) is started in the background and
    the cancel or a 504-like Retryable is raised.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    outcome = first
    attempt = 0
    try:
        while isinstance(outcome, Poll):
            if attempt >= MAX_POLLS:
                raise Retryable(
                    f"{label}: the job did not finish.", status=504, code="upstream_timeout", timeout=True
                )
            delay = outcome.after if outcome.after is not None else backoff.delay(attempt)
            if loop.time() + delay >= deadline:
                raise Retryable(
                    f"{label} did not finish the job in time.",
                    status=504,
                    code="upstream_timeout",
                    timeout=True,
                )
            await asyncio.sleep(delay)
            current = outcome
            outcome = await current.ask()
            attempt += 1
            if isinstance(outcome, Poll) and outcome.cancel is None:
                outcome.cancel = current.cancel  # a status answer need not repeat how to cancel
    except BaseException as exc:
        if isinstance(outcome, Poll) and outcome.cancel is not None and _abandons(exc):
            background.start(outcome.cancel())
        raise
    return outcome


def _abandons(exc: BaseException) -> bool:
    """Whether the job is left unread: the caller went away, we stopped waiting for it, or its
    polls kept failing (the router may start a new job; this one would only be billed)."""
    return isinstance(exc, asyncio.CancelledError | Retryable)
