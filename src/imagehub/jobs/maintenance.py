"""Job housekeeping on every hub: money left pending by a dead hub, expired results, metrics."""

from __future__ import annotations

import asyncio
import logging

from imagehub.jobs.models import IN_PROGRESS, QUEUED
from imagehub.jobs.runner import JobRunner
from imagehub.observability import metrics

log = logging.getLogger("imagehub.jobs")


async def maintain_jobs(runner: JobRunner, interval: float) -> None:
    """Reconcile, sweep and measure every `interval` seconds, forever; errors are logged."""
    while True:
        try:
            fixed = await runner.reconcile()
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
