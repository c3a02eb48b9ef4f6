"""Job housekeeping on every hub: money left pending by a dead hub, expired results, metrics."""

from __future__ import annotations

import asyncio
import logging

from imagehub.jobs.models import IN_PROGRESS, QUEUED, SUCCEEDED
from imagehub.jobs.runner import JobRunner
from imagehub.observability import metrics

log = logging.getLogger("imagehub.jobs")


async def reconcile(runner: JobRunner) -> int:
    """Settle or release the money of jobs that ended on a hub that died before doing so, and
    announce the ends it never announced.

    Unfenced: these jobs have ended, so no run holds them any more.
    """
    fixed = 0
    for ended in await runner.queue.unnotified(older_than_ms=runner.lease_ms):
        await runner.announce(ended)
        fixed += 1
    for job_id, status, price in await runner.queue.unsettled(older_than_ms=runner.lease_ms):
        reservation = await runner.reservations.find(job_id)
        if reservation is None:
            continue
        if status == SUCCEEDED:
            await runner.service.ledger.settle(
                reservation, price=price or 0, provider="(recovered)", n_delivered=0
            )
        else:
            await runner.service.ledger.release(reservation, status_code=499, error_code=status)
        fixed += 1
    return fixed


async def maintain_jobs(runner: JobRunner, interval: float) -> None:
    """Reconcile, sweep and measure every `interval` seconds, forever; errors are logged."""
    while True:
        try:
            fixed = await reconcile(runner)
            swept = await runner.queue.sweep()
            depth = await runner.queue.depth()
            metrics.JOBS_QUEUED.set(depth[QUEUED])
            metrics.JOBS_RUNNING.set(depth[IN_PROGRESS])
            metrics.JOB_AGE.set(depth["oldest_queued_ms"] / 1000)
            if fixed or swept:
                log.info("jobs: %d reservation(s) reconciled, %d expired job(s) swept", fixed, swept)
        except Exception:
            log.exception("job maintenance failed; will retry")
        await asyncio.sleep(interval)
