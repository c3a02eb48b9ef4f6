"""How busy and how healthy one engine is, as a hub sees it: polled, and counted on the way.

Every `poll_seconds` the hub reads the engine's `/readyz`: 200 means up, and its
`X-Imagehub-Engine-Load` header says how many requests the engine holds, from every hub. Between
polls the hub adds what it sent itself since, so a burst from this hub spreads at once instead
of piling onto the engine that looked idle a second ago. A call that cannot reach the engine
marks it down until the next good poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import httpx

from imagehub.observability import metrics
from imagehub.upstream.providers.base import Load

log = logging.getLogger("imagehub.engine")
LOAD_HEADER = "x-imagehub-engine-load"


class EngineMonitor:
    def __init__(self, name: str, root_url: str, poll_seconds: float) -> None:
        self.name = name
        self._readyz = f"{root_url}/readyz"
        self._poll_seconds = poll_seconds
        self.healthy = True  # until a poll or a call says otherwise
        self.in_flight = 0  # this hub's calls to the engine now
        self._reported = 0  # the engine's load at the last poll, every hub's requests
        self._ours_then = 0  # of which ours, as far as we can tell
        self._task: asyncio.Task[None] | None = None

    def load(self) -> Load:
        self._start()
        others = max(0, self._reported - self._ours_then)
        return Load(healthy=self.healthy, queue=float(others + self.in_flight))

    @contextlib.contextmanager
    def calling(self) -> Iterator[None]:
        self.in_flight += 1
        self._show()
        try:
            yield
        finally:
            self.in_flight -= 1
            self._show()

    def _show(self) -> None:
        """The gauge says what ranking sees now, not what it saw at the last poll."""
        metrics.ENGINE_LOAD.labels(self.name).set(self.load().queue)

    def mark_down(self) -> None:
        if self.healthy:
            log.warning("engine %s cannot be reached; others first until it answers /readyz", self.name)
        self.healthy = False
        metrics.ENGINE_UP.labels(self.name).set(0)

    def _start(self) -> None:
        if self._task is None:
            # No running loop yet (built outside the server): the first ranking inside one starts it.
            with contextlib.suppress(RuntimeError):
                self._task = asyncio.get_running_loop().create_task(self._poll_forever())

    async def _poll_forever(self) -> None:
        timeout = httpx.Timeout(max(1.0, self._poll_seconds), connect=min(2.0, self._poll_seconds + 1))
        async with httpx.AsyncClient(timeout=timeout) as client:
            while True:
                await self.poll(client)
                await asyncio.sleep(self._poll_seconds)

    async def poll(self, client: httpx.AsyncClient) -> None:
        ours = self.in_flight
        try:
            response = await client.get(self._readyz)
            up = response.status_code == 200
            load = int(response.headers.get(LOAD_HEADER, "0"))
        except (httpx.HTTPError, ValueError):
            up, load = False, 0
        if up != self.healthy:
            log.info("engine %s is %s", self.name, "ready" if up else "not ready")
        self.healthy = up
        self._reported, self._ours_then = load, ours
        metrics.ENGINE_UP.labels(self.name).set(1 if up else 0)
        self._show()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
