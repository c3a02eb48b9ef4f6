"""A per-process cap on the answer bytes held at once, with back-pressure before refusal.

Spools take from the budget as bytes arrive. When it is spent, a reader waits (so the hub stops
reading from the upstream socket and the kernel's flow control slows the sender) rather than
pile up bytes; new requests are refused with 503 + Retry-After at admission while readers
wait, so a burst of big answers ends in clear refusals, never in an out-of-memory kill.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from dataclasses import dataclass, field

from imagehub.errors import ServiceUnavailable
from imagehub.observability import metrics

DEFAULT_LIMIT_BYTES = 1 << 30
DEFAULT_MEMORY_BYTES = 128 << 20
REFUSE_AFTER_SECONDS = 5.0
_REPORT_STEP = 1 << 20
#: One request keeps at most this much of its answer in memory: a 73 MB answer of ten 4K images
#: goes to files past its first few megabytes, while a typical 2.5 MB image never touches a file.
PER_REQUEST_MEMORY_BYTES = 6 << 20


class AnswerBudgetFull(ServiceUnavailable):
    """The hub holds as many answer bytes as it may; the client should retry shortly."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message or "The hub is holding as many image bytes as it may right now; retry shortly.",
            code="answer_budget_full",
            headers={"Retry-After": "2"},
        )


@dataclass(eq=False)
class Share:
    """What one request holds of the budget: its own bytes never make it wait for itself."""

    held: int = 0
    in_memory: int = 0  # of which in memory (at most PER_REQUEST_MEMORY_BYTES)
    prepaid: int = 0  # taken for the whole answer up front, not yet spent by a spool


@dataclass(eq=False)
class ByteBudget:
    """`limit` bytes shared by every answer in flight in this process."""

    limit: int = DEFAULT_LIMIT_BYTES
    used: int = 0
    peak: int = 0
    _reported: int = 0
    #: New requests are refused once a reader has waited this long: the hub is behind, not in a burst.
    refuse_after_seconds: float = REFUSE_AFTER_SECONDS
    _waiters: collections.deque[tuple[int, Share, asyncio.Future[None], float]] = field(
        default_factory=collections.deque
    )

    def configure(self, limit: int) -> None:
        """Set at start-up from the settings (IMAGEHUB_ANSWER_BUDGET_MB)."""
        self.limit = limit
        self._wake()

    @property
    def waiting(self) -> int:
        """How many readers are held back until bytes are given back."""
        return len(self._waiters)

    def saturated(self) -> bool:
        """True once a reader has waited `refuse_after_seconds` for room: more work would only queue.

        A burst of answers landing at once makes readers wait a moment (their bytes wait in the
        kernel's socket buffers meanwhile, costing nothing here); refusing then would turn a
        burst into errors. A reader still waiting seconds later means the hub is behind.
        """
        if not self._waiters:
            return False
        return time.monotonic() - self._waiters[0][3] >= self.refuse_after_seconds

    def check_admission(self) -> None:
        """Refuse a new request (503 + Retry-After) while the budget has been spent for a while."""
        if self.saturated():
            metrics.ANSWER_REFUSED.inc()
            raise AnswerBudgetFull()

    def try_take(self, size: int, share: Share) -> bool:
        if self._waiters or not self._fits(size, share):
            return False
        self._add(size, share)
        return True

    async def prepay(self, size: int, timeout: float, share: Share) -> None:
        """Take a whole answer's size before reading it (its Content-Length).

        Taking chunk by chunk, a thousand answers landing at once each got part of the budget
        and then all waited for more: none could finish, so none gave any back. Whole answers,
        first come first served, always let the first ones finish.
        """
        await self.take(size, timeout, share)
        share.held -= size
        share.prepaid += size

    def refund(self, share: Share) -> None:
        """Give back what was prepaid and not spent (the JSON around the images)."""
        if share.prepaid:
            size, share.prepaid = share.prepaid, 0
            share.held += size
            self.give(size, share)

    async def take(self, size: int, timeout: float, share: Share) -> None:
        """Wait (in arrival order) until `size` bytes fit; AnswerBudgetFull after `timeout` s."""
        if share.prepaid:
            spent = min(size, share.prepaid)
            share.prepaid -= spent
            share.held += spent
            size -= spent
            if not size:
                return
        if self.try_take(size, share):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (size, share, future, time.monotonic())
        self._waiters.append(entry)
        metrics.ANSWER_WAITING.set(len(self._waiters))
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except BaseException as error:
            if future.done() and not future.cancelled():
                self.give(size, share)  # granted just as we gave up: hand it on
            else:
                future.cancel()
                self._remove(entry)
                self._wake()
            metrics.ANSWER_WAITING.set(len(self._waiters))
            if isinstance(error, TimeoutError):
                metrics.ANSWER_REFUSED.inc()
                raise AnswerBudgetFull(
                    f"The hub could not make room for this answer within {timeout:g} s; retry shortly."
                ) from None
            raise

    def give(self, size: int, share: Share) -> None:
        share.held = max(0, share.held - size)
        self.used = max(0, self.used - size)
        self._report()
        self._wake()

    def _fits(self, size: int, share: Share) -> bool:
        # Only others' bytes count against a request: an answer bigger than the whole budget
        # still goes through, alone, rather than wait for itself.
        others = self.used - share.held
        return others + share.held + size <= self.limit or others == 0

    def _add(self, size: int, share: Share) -> None:
        share.held += size
        self.used += size
        self.peak = max(self.peak, self.used)
        self._report()

    def _report(self) -> None:
        # The gauges move a megabyte at a time (and always to zero): setting them on every
        # 64 KB chunk cost more than the chunk's own bookkeeping.
        if abs(self.used - self._reported) >= _REPORT_STEP or (self.used == 0 and self._reported):
            self._reported = self.used
            metrics.ANSWER_BYTES.set(self.used)
            metrics.ANSWER_BYTES_PEAK.set(self.peak)

    def _wake(self) -> None:
        while self._waiters:
            size, share, future, _ = self._waiters[0]
            if future.done():
                self._waiters.popleft()
                continue
            if not self._fits(size, share):
                return
            self._waiters.popleft()
            self._add(size, share)
            future.set_result(None)
            metrics.ANSWER_WAITING.set(len(self._waiters))

    def _remove(self, entry: tuple[int, Share, asyncio.Future[None], float]) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(entry)


@dataclass(eq=False)
class MemoryTier:
    """How many answer bytes this process keeps in memory; past it, spools go to files. Never waits."""

    limit: int = DEFAULT_MEMORY_BYTES
    used: int = 0

    def configure(self, limit: int) -> None:
        self.limit = limit

    _reported: int = 0

    def try_take(self, size: int, share: Share) -> bool:
        if self.used + size > self.limit or share.in_memory + size > PER_REQUEST_MEMORY_BYTES:
            return False
        self.used += size
        share.in_memory += size
        self._report()
        return True

    def give(self, size: int, share: Share) -> None:
        if size:
            self.used = max(0, self.used - size)
            share.in_memory = max(0, share.in_memory - size)
            self._report()

    def _report(self) -> None:
        if abs(self.used - self._reported) >= _REPORT_STEP or (self.used == 0 and self._reported):
            self._reported = self.used
            metrics.ANSWER_MEMORY.set(self.used)


#: The process's budget; the app factory sets its limit from the settings.
ANSWERS = ByteBudget()
