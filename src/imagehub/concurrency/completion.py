"""Money work that a cancelled request cannot interrupt halfway.

A client that hangs up cancels its request's task wherever it is. Cancelled inside a database
transaction, SQLAlchemy may still commit it and then re-raise the cancel: the caller never learns
that its reservation exists, and on SQLite the interrupted connection can keep the write lock
until the garbage collector finds it. `asyncio.shield` alone keeps the work running but stops
waiting for it. `run_to_completion` waits for the work to end either way and then tells the
caller both what it did and that a cancel arrived, so the caller can undo what nobody will read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class Completed(Generic[T]):
    """How a piece of work ended: its value or its error, and whether its caller was cancelled."""

    value: T | None
    error: BaseException | None
    cancelled: bool

    def result(self) -> T:
        """The value, or the work's own error raised; a caller's cancel is for the caller to act on."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


async def run_to_completion(work: Awaitable[T]) -> Completed[T]:
    """Run `work` to its end even if the calling task is cancelled meanwhile.

    The cancel is not lost: `cancelled` is set, and the caller must raise `CancelledError` once
    it has compensated (the task's cancel count is left as the canceller set it).
    """
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait((task,))
        except asyncio.CancelledError:
            cancelled = True
    if task.cancelled():
        return Completed(None, asyncio.CancelledError(), cancelled)
    error = task.exception()
    if error is not None:
        return Completed(None, error, cancelled)
    return Completed(task.result(), None, cancelled)
