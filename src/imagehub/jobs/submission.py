"""Submitting, waiting on and cancelling jobs: what the API and the batch runner call.

A job is admitted exactly as a synchronous request is (validation, the key's limits, source
images read, the quote reserved) before it is queued, so everything a client can get wrong is
answered at once, and a queued job always has its money held. Its reservation and usage record
carry the job's id.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from imagehub.accounts.books import RequestContext
from imagehub.accounts.keys import KeyInfo
from imagehub.inputs.sources import request_operation
from imagehub.jobs.models import INTERACTIVE, QUEUED, TERMINAL, ImageJobRow, new_job_id, now_ms
from imagehub.jobs.queue import JobQueue
from imagehub.jobs.requests import dump_request
from imagehub.jobs.runner import JobRunner, cancelled_error
from imagehub.schema.wire import ImageGenerationRequest
from imagehub.service.generation import GenerationService


class JobService:
    def __init__(self, queue: JobQueue, runner: JobRunner, service: GenerationService) -> None:
        self.queue = queue
        self.runner = runner
        self.service = service
        self._waiters: dict[str, asyncio.Event] = {}
        runner.listeners.append(self._ended)

    async def submit(
        self,
        request: ImageGenerationRequest,
        key: KeyInfo,
        context: RequestContext,
        *,
        priority: int = INTERACTIVE,
        batch_id: str | None = None,
        custom_id: str | None = None,
    ) -> ImageJobRow:
        """Admit, reserve and queue; raises (on record) what a synchronous request would."""
        job_id = new_job_id()
        context.request_id = job_id
        job, _, reservation = await self.service.admit(request, key, context, durable=True)
        row = ImageJobRow(
            id=job_id,
            key_id=key.id,
            operation=request_operation(request),
            status=QUEUED,
            model=job.shown_spec.name,  # the request's model, also when a successor serves it
            size=job.asked.size if job.asked is not None else job.size,
            request=dump_request(request),
            priority=priority,
            batch_id=batch_id,
            custom_id=custom_id,
            attempts=0,
            cancel_requested=False,
            created_at=now_ms(),
        )
        try:
            await self.queue.add([row])
        except BaseException as error:
            await self.service.books.release(reservation, error)
            raise
        self.runner.wake()
        return row

    async def wait(self, job_id: str, seconds: float) -> ImageJobRow | None:
        """The job once it ended, or as it is after `seconds`.

        Woken at once when this hub's workers end it; a job another hub runs is seen at the next
        look (twice a second).
        """
        deadline = time.monotonic() + seconds
        event = self._waiters.setdefault(job_id, asyncio.Event())
        try:
            while True:
                row = await self.queue.get(job_id)
                remaining = deadline - time.monotonic()
                if row is None or row.status in TERMINAL or remaining <= 0:
                    return row
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(remaining, 0.5))
        finally:
            self._waiters.pop(job_id, None)

    async def _ended(self, row: ImageJobRow) -> None:
        event = self._waiters.get(row.id)
        if event is not None:
            event.set()

    async def cancel(self, job_id: str, key_id: str) -> ImageJobRow | None:
        """Cancel a key's job; None if it has none by that id. An ended job is returned as it is."""
        outcome = await self.queue.request_cancel(job_id, key_id, self.runner.retention_ms)
        if outcome == "requested":
            self.runner.cancel_here(job_id)
        if outcome == "cancelled":  # it never ran: its money goes back here and now
            reservation = await self.runner.reservations.find(job_id)
            if reservation is not None:
                await self.service.books.release(reservation, cancelled_error())
            row = await self.queue.get(job_id)
            if row is not None:
                await self.runner.announce(row)
        return await self.queue.get(job_id, key_id)
