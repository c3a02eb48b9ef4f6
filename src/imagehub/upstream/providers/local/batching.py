"""Dynamic batching: merge concurrent requests that can share one model call, off the event loop.

A model on one device runs one call at a time, and a call for 8 images costs far less than 8
calls for one (the weights are read once, the per-call overhead is paid once). So requests wait in
a bounded queue; a single worker takes the oldest, adds every waiting request with the same key
(same size, steps, mode) up to `max_batch` images, waits at most `max_wait` for more, and runs the
batch in its own thread so the event loop keeps serving. Each request gets back only its own part.

A request cancelled while it waits (its client went away) leaves the queue and never runs. Knows
nothing about torch: the blocking `run` function is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)  # what must match for requests to share a call
I = TypeVar("I")  # one request's input  # noqa: E741
R = TypeVar("R")  # one request's output


class QueueFull(Exception):
    """The queue holds `queue_size` requests already; `retry_after` is a fair guess in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"queue full; retry in {retry_after}s")
        self.retry_after = retry_after


class BatcherClosed(Exception):
    """The batcher shut down before this request could run."""


@dataclass
class BatchStats:
    """Counters for tests, benchmarks and logs."""

    batches: int = 0
    requests: int = 0
    images: int = 0
    dropped: int = 0  # cancelled while waiting: never ran
    largest_batch: int = 0  # images in the biggest call so far
    busy_seconds: float = 0.0
    batch_sizes: deque[int] = field(
        default_factory=lambda: deque(maxlen=1000)
    )  # images per call, latest last

    def record(self, requests: int, images: int, seconds: float) -> None:
        self.batches += 1
        self.requests += requests
        self.images += images
        self.largest_batch = max(self.largest_batch, images)
        self.busy_seconds += seconds
        self.batch_sizes.append(images)


@dataclass(eq=False)
class _Waiting(Generic[K, I, R]):
    key: K
    item: I
    size: int
    future: asyncio.Future[R]


class Batcher(Generic[K, I, R]):
    """Queue, merge and run requests; `run(key, items)` returns one result per item, in order."""

    def __init__(
        self,
        run: Callable[[K, Sequence[I]], Sequence[R]],
        *,
        max_batch: int,
        max_wait: float,
        queue_size: int,
        name: str = "local",
    ) -> None:
        self._run = run
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.queue_size = queue_size
        self.stats = BatchStats()
        self._waiting: deque[_Waiting[K, I, R]] = deque()
        self._arrived = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self._running_since: float | None = None
        # One thread: a pipeline is not thread-safe (its scheduler keeps per-call state).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"imagehub-{name}")

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def retry_after(self) -> int:
        """Seconds until the queue has likely drained enough to take a new request."""
        per_batch = self.stats.busy_seconds / self.stats.batches if self.stats.batches else 1.0
        if self._running_since is not None:  # a batch running longer than usual says more
            per_batch = max(per_batch, time.perf_counter() - self._running_since)
        return max(1, math.ceil(per_batch * (self.waiting / self.max_batch + 1)))

    async def submit(self, key: K, item: I, size: int = 1) -> R:
        """Queue one request of `size` images and wait for its own result."""
        if self._closed:
            raise BatcherClosed
        if len(self._waiting) >= self.queue_size:
            raise QueueFull(self.retry_after())
        entry: _Waiting[K, I, R] = _Waiting(key, item, size, asyncio.get_running_loop().create_future())
        self._waiting.append(entry)
        self._arrived.set()
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name="imagehub-local-batcher")
        try:
            return await entry.future
        except asyncio.CancelledError:
            if entry in self._waiting:  # still queued: drop it, it will never run
                self._waiting.remove(entry)
                self.stats.dropped += 1
            raise

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
            batch = await self._collect()
            live = [entry for entry in batch if not entry.future.done()]
            self.stats.dropped += len(batch) - len(live)  # cancelled while the batch filled
            if not live:
                continue
            images = sum(entry.size for entry in live)
            started = self._running_since = time.perf_counter()
            try:
                results = await loop.run_in_executor(
                    self._executor, self._run, live[0].key, [entry.item for entry in live]
                )
                if len(results) != len(live):
                    raise RuntimeError(f"batch returned {len(results)} results for {len(live)} requests")
            except asyncio.CancelledError:
                for entry in live:
                    if not entry.future.done():
                        entry.future.set_exception(BatcherClosed())
                raise
            except Exception as exc:
                for entry in live:
                    if not entry.future.done():
                        entry.future.set_exception(exc)
                continue
            finally:
                self._running_since = None
                self.stats.record(len(live), images, time.perf_counter() - started)
            for entry, result in zip(live, results, strict=True):
                if not entry.future.done():
                    entry.future.set_result(result)

    async def _collect(self) -> list[_Waiting[K, I, R]]:
        """The oldest request plus every compatible one, waiting up to max_wait to fill."""
        first = self._waiting.popleft()
        batch, images = [first], first.size
        deadline = time.monotonic() + self.max_wait
        while images < self.max_batch:
            for entry in list(self._waiting):  # oldest first
                if entry.key == first.key and images + entry.size <= self.max_batch:
                    self._waiting.remove(entry)
                    batch.append(entry)
                    images += entry.size
            remaining = deadline - time.monotonic()
            if images >= self.max_batch or remaining <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                break
        return batch

    async def close(self) -> None:
        """Fail what waits, stop the worker, and let a running batch finish in its thread."""
        self._closed = True
        while self._waiting:
            entry = self._waiting.popleft()
            if not entry.future.done():
                entry.future.set_exception(BatcherClosed())
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        await asyncio.to_thread(self._executor.shutdown, wait=True)
