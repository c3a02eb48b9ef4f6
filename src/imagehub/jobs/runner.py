"""Workers that run claimed jobs, keep their leases alive, and put every end on record.

Money follows a synchronous request's rules, spread over processes: the reservation was made at
submission (in the database, under the job's id); the worker that runs the job finds it there,
records the job's result first and settles second. A hub killed at any point leaves either a
pending reservation with a job whose lease runs out (another worker re-runs it and settles once),
or an ended job with a pending reservation (housekeeping's `reconcile` settles or releases it). Crash recovery
of synchronous requests skips job reservations (ledger.DURABLE_PREFIX).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from imagehub.accounts.books import RequestContext
from imagehub.accounts.durable import DurableReservations
from imagehub.accounts.keys import KeyInfo, KeyStore
from imagehub.accounts.ledger import Reservation
from imagehub.accounts.ratelimit import Permit, RateLimited, RateLimiter
from imagehub.errors import HubError
from imagehub.jobs.models import BATCH, CANCELLED, FAILED, INTERACTIVE, SUCCEEDED, ImageJobRow
from imagehub.jobs.queue import JobQueue
from imagehub.jobs.requests import load_request, unrun_line
from imagehub.observability import metrics
from imagehub.payloads.spool import spool_text
from imagehub.schema.images import ImageJob
from imagehub.service.generation import GenerationService, Produced, close_outcome

log = logging.getLogger("imagehub.jobs")

#: The error code a job given back at shutdown is queued with: its next run holds its money again.
GIVEN_BACK = "hub_shutdown"

#: A job whose hub died this many times is failed rather than tried again.
MAX_ATTEMPTS = 3

#: Called once a job has ended here, with the row as it ended (webhooks, batch progress, waiters).
JobListener = Callable[[ImageJobRow], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    workers: int = 4
    interactive_workers: int = 1  # of `workers`, reserved for interactive jobs (never batch lines)
    lease_seconds: float = 30.0
    poll_seconds: float = 0.5
    retention_seconds: int = 86_400
    drain_seconds: float = 5.0


def cancelled_error() -> HubError:
    """What a cancelled job's usage record says (499, as for a client that went away)."""
    return HubError("The job was cancelled.", code="cancelled", status=499)


def _token(row: ImageJobRow) -> str:
    """The lease token of this run (every claimed row has one)."""
    assert row.lease_token is not None, f"job {row.id} was not claimed"
    return row.lease_token


def _error(code: str, message: str, status: int = 500) -> str:
    return orjson.dumps({"code": code, "message": message, "status": status}).decode()


class JobRunner:
    def __init__(
        self,
        queue: JobQueue,
        service: GenerationService,
        reservations: DurableReservations,
        keys: KeyStore,
        settings: RunnerSettings,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.queue = queue
        self.service = service
        self.reservations = reservations
        self.keys = keys
        self.settings = settings
        self.limiter = limiter
        self.owner = f"{socket.gethostname()[:30]}-{os.getpid()}-{secrets.token_hex(4)}"
        self.listeners: list[JobListener] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._work_of: dict[str, asyncio.Task[None]] = {}
        self._prepared: dict[str, ImageJob] = {}  # batch lines admitted by this run, images read
        self._stopping = False

    @property
    def lease_ms(self) -> int:
        return int(self.settings.lease_seconds * 1000)

    @property
    def retention_ms(self) -> int:
        return self.settings.retention_seconds * 1000

    def start(self) -> None:
        for index in range(self.settings.workers):
            limit = INTERACTIVE if index < self.settings.interactive_workers else BATCH
            self._tasks.append(asyncio.create_task(self._work(limit), name=f"job-worker-{index}"))

    def wake(self) -> None:
        """A job was submitted here: a free worker claims it now rather than at its next poll."""
        self._wake.set()

    async def stop(self) -> None:
        """Claim nothing more; let jobs in flight finish for a while, then give them back.

        A job given back is queued again with its reservation released (nothing was delivered);
        whichever hub claims it next holds the money again under the same usage record.
        """
        self._stopping = True
        running = set(self._running)  # before the workers, cancelled, forget their runs
        for task in self._tasks:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=self.settings.drain_seconds)
        for task in running:
            task.cancel()
        await asyncio.gather(*self._tasks, *running, return_exceptions=True)

    async def _work(self, max_priority: int) -> None:
        while not self._stopping:
            # Cleared before looking, so a wake-up that arrives while we look is not lost.
            self._wake.clear()
            try:
                row = await self.queue.claim(self.owner, self.lease_ms, max_priority=max_priority)
            except Exception:
                log.exception("claiming a job failed; will retry")
                row = None
            if row is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)
                continue
            task = asyncio.create_task(self._run(row))
            self._running.add(task)
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if not self._stopping:
                    raise
            except Exception:
                log.exception("job %s failed unexpectedly", row.id)
            finally:
                self._running.discard(task)

    def cancel_here(self, job_id: str) -> None:
        """Cancel a job at once if this process runs it (others see the flag at their heartbeat)."""
        work = self._work_of.get(job_id)
        if work is not None:
            work.cancel()

    async def _run(self, row: ImageJobRow) -> None:
        work = asyncio.create_task(self._execute(row))
        self._work_of[row.id] = work
        beat = asyncio.create_task(self._keep_lease(row.id, _token(row), work))
        try:
            await work
        finally:
            self._work_of.pop(row.id, None)
            self._prepared.pop(row.id, None)
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _keep_lease(self, job_id: str, token: str, work: asyncio.Task[None]) -> None:
        """Extend the lease a few times per lease period; cancel the work when a cancel is asked.

        A lease lost (another run took the job after this one missed its heartbeats) is not a
        cancel. This run goes on, but cannot record its end (`finish` checks the lease token)
        nor settle or release the money (its reservation is fenced by the token); its images go.
        """
        while not work.done():
            await asyncio.sleep(self.settings.lease_seconds / 3)
            try:
                beat = await self.queue.heartbeat(job_id, token, self.lease_ms)
            except Exception:
                log.exception("heartbeat of job %s failed", job_id)
                continue
            if beat.cancel_requested:
                work.cancel()
                return
            if not beat.still_ours:
                log.warning("job %s: lease lost to another hub; this run will not be recorded", job_id)
                return

    async def _execute(self, row: ImageJobRow) -> None:
        try:
            permit = await self._line_permit(row)
        except RateLimited as limited:  # queued again for when the limiter says to retry
            await self.queue.give_back(
                row.id, _token(row), row.error, after_ms=int(limited.retry_after * 1000)
            )
            return
        try:
            await self._execute_held(row)
        finally:
            if permit is not None:
                await permit.release()

    async def _line_permit(self, row: ImageJobRow) -> Permit | None:
        """A running job holds one of its key's concurrency slots, as a request of it would.

        A batch line also counts against the key's requests per minute (an interactive job was
        counted when it was submitted). At the limit this raises RateLimited, and the job waits
        its turn in the queue rather than failing.
        """
        if self.limiter is None or row.cancel_requested:
            return None
        key = await self.keys.get(row.key_id)
        if key is None:
            return None  # the run fails on the revoked key, on record
        rpm = key.rpm_limit if row.batch_id is not None else None
        return await self.limiter.acquire(key.id, rpm=rpm, concurrency=key.concurrency_limit)

    async def _execute_held(self, row: ImageJobRow) -> None:
        reservation = await self.reservations.find(row.id, fence=_token(row))
        if reservation is None and not row.cancel_requested:
            try:
                reservation = await self._hold_again(row)
            except HubError as refused:  # refused (402, a revoked key): on record, nothing held
                code = refused.code or refused.type
                await self._end(row, FAILED, error=_error(code, refused.message, refused.status))
                return
        if reservation is None and row.cancel_requested and row.batch_id is not None:
            # A line stopped before it reserved anything: its one record says so, free of charge.
            unrun = unrun_line(row.id, row.key_id, row.model, row.size, row.request)
            await self.reservations.record_unrun(unrun, cancelled_error().status, "cancelled")
            await self._end(row, CANCELLED)
            return
        if reservation is None:  # released or settled by an earlier run that never recorded the end
            message = "The job was interrupted; nothing was charged."
            await self._end(
                row, CANCELLED if row.cancel_requested else FAILED, error=_error("interrupted", message)
            )
            return
        if row.cancel_requested:
            await self._release_and_end(row, reservation, CANCELLED, None, cancelled_error())
            return
        if row.attempts > MAX_ATTEMPTS:
            gave_up = HubError("The job was interrupted too many times.")
            await self._release_and_end(
                row, reservation, FAILED, _error("interrupted", str(gave_up)), gave_up
            )
            return
        try:
            produced = await self._produce(row, reservation)
        except asyncio.CancelledError as cancel:
            await self._after_cancel(row, reservation, cancel)
            return
        except HubError as error:
            await self._release_and_end(
                row, reservation, FAILED, _error(error.code or error.type, error.message, error.status), error
            )
            return
        except Exception as error:
            log.exception("job %s failed", row.id)
            await self._release_and_end(
                row, reservation, FAILED, _error("internal_error", repr(error)), error
            )
            return
        await self._deliver(row, reservation, produced)

    async def _hold_again(self, row: ImageJobRow) -> Reservation | None:
        """The money of a job that holds none yet: a batch line reserves as it starts, a job a
        shutting-down hub gave back holds its amount again; None for anything else."""
        if row.error is not None and GIVEN_BACK in row.error:
            await self._key(row)
            reopened = await self.reservations.reopen(row.id)
        elif row.batch_id is not None and not await self.reservations.exists(row.id):
            reopened = await self._reserve_line(row)
            await self.queue.fence(row.id, _token(row))  # written after the claim: fence it now
        else:
            return None
        if reopened is not None:
            reopened.fence = _token(row)
        return reopened

    async def _reserve_line(self, row: ImageJobRow) -> Reservation:
        key = await self._key(row)
        context = RequestContext(request_id=row.id)
        job, _, reservation = await self.service.admit(load_request(row.request), key, context, durable=True)
        self._prepared[row.id] = job  # its source images are read: the run uses them as they are
        return reservation

    async def _key(self, row: ImageJobRow) -> KeyInfo:
        key = await self.keys.get(row.key_id)
        if key is None or key.revoked_at is not None:
            raise HubError("The key that submitted this job was revoked.", status=401, code="key_revoked")
        return key

    async def _produce(self, row: ImageJobRow, reservation: Reservation) -> Produced:
        try:
            key = await self._key(row)
            job = self._prepared.pop(row.id, None) or await self.service.prepare(
                load_request(row.request), key
            )
        except BaseException as error:
            await self.service.books.release(reservation, error)
            raise
        return await self.service.produce(
            job, reservation.amount, reservation, key, "", url_ttl_seconds=self.settings.retention_seconds
        )

    async def _deliver(self, row: ImageJobRow, reservation: Reservation, produced: Produced) -> None:
        outcome = produced.outcome
        try:
            result = orjson.dumps(
                {"created": outcome.created, "data": outcome.data, **outcome.echo}, default=spool_text
            ).decode()
        finally:
            close_outcome(outcome)
        ended = await self.queue.finish(
            row.id,
            _token(row),
            SUCCEEDED,
            result=result,
            price_micros=outcome.price_micros,
            retention_ms=self.retention_ms,
        )
        if not ended:  # another run holds the job now; its run settles the reservation
            log.warning(
                "job %s: this run succeeded after another run took the job over; not recorded", row.id
            )
            await self.service.delete(produced.stored)
            return
        await self.service.settle(produced, reservation)
        await self._notify(row.id)

    async def _after_cancel(self, row: ImageJobRow, reservation: Reservation, cancel: BaseException) -> None:
        """The work was cancelled (its reservation released): asked for, lease lost, or shutdown."""
        await self.service.books.release(reservation, cancel if self._stopping else cancelled_error())
        if not self._stopping:
            await self._end(row, CANCELLED)
        elif await self.queue.give_back(
            row.id, _token(row), _error(GIVEN_BACK, "Given back by a hub shutting down.")
        ):
            log.warning("job %s given back at shutdown: another run will hold its money again", row.id)
        else:
            log.warning("job %s was not ours to give back at shutdown", row.id)

    async def _release_and_end(
        self, row: ImageJobRow, reservation: Reservation, status: str, error: str | None, why: BaseException
    ) -> None:
        await self.service.books.release(reservation, why)
        await self._end(row, status, error=error)

    async def _end(self, row: ImageJobRow, status: str, *, error: str | None = None) -> None:
        if await self.queue.finish(row.id, _token(row), status, error=error, retention_ms=self.retention_ms):
            await self._notify(row.id)
        else:
            log.warning(
                "job %s: this run ended %s after another run took the job over; not recorded", row.id, status
            )

    async def _notify(self, job_id: str) -> None:
        ended = await self.queue.get(job_id)
        if ended is None:
            return
        metrics.JOBS_ENDED.labels(ended.status).inc()
        await self.announce(ended)

    async def announce(self, ended: ImageJobRow) -> None:
        """Tell the listeners (webhook events, waiters) a job ended, then note that it was told.

        At least once: a hub that dies in between leaves the job unannounced, and `reconcile`
        (jobs/maintenance.py) on any hub announces it again (a receiver may see one event twice, never none).
        """
        failed = False
        for listener in self.listeners:
            try:
                await listener(ended)
            except Exception:
                failed = True
                log.exception("a listener failed on job %s", ended.id)
        if not failed:
            await self.queue.mark_notified(ended.id)
