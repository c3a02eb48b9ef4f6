"""The job table as a queue: submit, claim with a lease, heartbeat, finish, cancel, read, sweep.

Claiming is the well-known leased-queue pattern, no library: a job is free when it is queued, or
in progress under a lease that ran out (its hub died). On PostgreSQL the candidate is locked with
`FOR UPDATE SKIP LOCKED`, so hubs claiming at once each get a different job without waiting on
one another; SQLite has one writer at a time, so there the claim is a conditional UPDATE that
re-checks the job is still free and counts the rows it changed.

Every claim draws a fresh lease token and, in the same transaction, makes it the fence of the
job's usage record. Only the current token's run moves the job on (heartbeat, finish, give back
re-check it) or settles and releases its money (the ledger checks the fence), so a run that lost
its lease, even to another worker of its own hub, changes nothing that the new run holds.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagehub.accounts.holds import rowcount
from imagehub.accounts.models import UsageRecord
from imagehub.jobs.models import CANCELLED, IN_PROGRESS, QUEUED, TERMINAL, ImageJobRow, now_ms


def _free(now: int) -> ColumnElement[bool]:
    """Queued (and not deferred until later), or in progress under a lease that ran out."""
    return or_(
        and_(
            ImageJobRow.status == QUEUED,
            or_(ImageJobRow.lease_until.is_(None), ImageJobRow.lease_until < now),
        ),
        and_(ImageJobRow.status == IN_PROGRESS, ImageJobRow.lease_until < now),
    )


@dataclass(frozen=True, slots=True)
class Heartbeat:
    still_ours: bool
    cancel_requested: bool


class JobQueue:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, postgres: bool) -> None:
        self._sessions = sessions
        self._postgres = postgres

    async def add(self, rows: list[ImageJobRow]) -> None:
        async with self._sessions.begin() as session:
            session.add_all(rows)

    async def claim(
        self, owner: str, lease_ms: int, *, max_priority: int | None = None
    ) -> ImageJobRow | None:
        """Take the most urgent free job under a lease; None when there is none.

        `max_priority` keeps a worker to interactive jobs (batch lines wait for the others).
        """
        now = now_ms()
        free = _free(now)
        if max_priority is not None:
            free = and_(free, ImageJobRow.priority <= max_priority)
        order = (ImageJobRow.priority, ImageJobRow.created_at)
        if self._postgres:
            async with self._sessions.begin() as session:
                job_id = (
                    await session.execute(
                        select(ImageJobRow.id)
                        .where(free)
                        .order_by(*order)
                        .limit(1)
                        .with_for_update(skip_locked=True)
                    )
                ).scalar()
                if job_id is None:
                    return None
                return await self._take(session, job_id, owner, now, lease_ms)
        async with self._sessions() as session:
            candidates = list(
                (
                    await session.execute(select(ImageJobRow.id).where(free).order_by(*order).limit(4))
                ).scalars()
            )
        for job_id in candidates:  # another hub may take one first: the UPDATE re-checks
            async with self._sessions.begin() as session:
                claimed = await self._take(session, job_id, owner, now, lease_ms)
                if claimed is not None:
                    return claimed
        return None

    async def _take(
        self, session: AsyncSession, job_id: str, owner: str, now: int, lease_ms: int
    ) -> ImageJobRow | None:
        token = secrets.token_hex(16)
        taken = await session.execute(
            update(ImageJobRow)
            .where(ImageJobRow.id == job_id, _free(now))
            .values(
                status=IN_PROGRESS,
                lease_owner=owner,
                lease_token=token,
                lease_until=now + lease_ms,
                attempts=ImageJobRow.attempts + 1,
                started_at=now,
            )
        )
        if not rowcount(taken):
            return None
        await session.execute(update(UsageRecord).where(UsageRecord.request_id == job_id).values(fence=token))
        return await session.get(ImageJobRow, job_id, populate_existing=True)

    async def fence(self, job_id: str, token: str) -> bool:
        """Make `token` the fence of the job's usage record, if the lease is still that token's.

        For a record written after the claim (a batch line reserves as it starts).
        """
        async with self._sessions.begin() as session:
            ours = select(ImageJobRow.id).where(
                ImageJobRow.id == job_id, ImageJobRow.lease_token == token, ImageJobRow.status == IN_PROGRESS
            )
            fenced = await session.execute(
                update(UsageRecord).where(UsageRecord.request_id == job_id, ours.exists()).values(fence=token)
            )
        return bool(rowcount(fenced))

    async def heartbeat(self, job_id: str, token: str, lease_ms: int) -> Heartbeat:
        """Extend our lease; says whether it is still ours and whether a cancel was asked for."""
        async with self._sessions.begin() as session:
            extended = await session.execute(
                update(ImageJobRow)
                .where(
                    ImageJobRow.id == job_id,
                    ImageJobRow.lease_token == token,
                    ImageJobRow.status == IN_PROGRESS,
                )
                .values(lease_until=now_ms() + lease_ms)
            )
            cancel = (
                await session.execute(select(ImageJobRow.cancel_requested).where(ImageJobRow.id == job_id))
            ).scalar()
        return Heartbeat(bool(rowcount(extended)), bool(cancel))

    async def finish(
        self,
        job_id: str,
        token: str | None,
        status: str,
        *,
        result: str | None = None,
        error: str | None = None,
        price_micros: int | None = None,
        retention_ms: int,
    ) -> bool:
        """Record how a job ended; False if it was not ours to end (lease lost, already ended).

        `token` is the run's lease token; None ends a queued job (a cancel before any claim).
        """
        now = now_ms()
        guard = (
            and_(ImageJobRow.status == QUEUED)
            if token is None
            else and_(ImageJobRow.status == IN_PROGRESS, ImageJobRow.lease_token == token)
        )
        async with self._sessions.begin() as session:
            ended = await session.execute(
                update(ImageJobRow)
                .where(ImageJobRow.id == job_id, guard)
                .values(
                    status=status,
                    result=result,
                    error=error,
                    price_micros=price_micros,
                    finished_at=now,
                    lease_until=None,
                    expires_at=now + retention_ms,
                )
            )
        return bool(rowcount(ended))

    async def give_back(self, job_id: str, token: str, marker: str | None, *, after_ms: int = 0) -> bool:
        """Queue our running job again, not before `after_ms` from now; not counted as an attempt.

        For a hub shutting down (`marker` says so), and for a batch line whose key is at its
        rate or concurrency limit (it waits its turn instead of failing).
        """
        async with self._sessions.begin() as session:
            given = await session.execute(
                update(ImageJobRow)
                .where(
                    ImageJobRow.id == job_id,
                    ImageJobRow.status == IN_PROGRESS,
                    ImageJobRow.lease_token == token,
                )
                .values(
                    status=QUEUED,
                    lease_owner=None,
                    lease_token=None,
                    lease_until=now_ms() + after_ms if after_ms else None,
                    attempts=ImageJobRow.attempts - 1,
                    error=marker,
                )
            )
        return bool(rowcount(given))

    async def request_cancel(self, job_id: str, key_id: str, retention_ms: int) -> str | None:
        """Cancel a key's job: a queued one ends here and now ('cancelled'); one in progress is
        flagged for its lease holder ('requested'). None: no such job, or it already ended."""
        async with self._sessions() as session:
            row = await session.get(ImageJobRow, job_id)
        if row is None or row.key_id != key_id or row.status in TERMINAL:
            return None
        if row.status == QUEUED and await self.finish(
            job_id, None, CANCELLED, error=None, retention_ms=retention_ms
        ):
            return "cancelled"
        async with self._sessions.begin() as session:
            flagged = await session.execute(
                update(ImageJobRow)
                .where(ImageJobRow.id == job_id, ImageJobRow.status == IN_PROGRESS)
                .values(cancel_requested=True)
            )
        return "requested" if rowcount(flagged) else None

    async def get(self, job_id: str, key_id: str | None = None) -> ImageJobRow | None:
        async with self._sessions() as session:
            row = await session.get(ImageJobRow, job_id, populate_existing=True)
        if row is None or (key_id is not None and row.key_id != key_id):
            return None
        return row

    async def page(
        self, key_id: str, *, after: str | None, limit: int, batch_id: str | None = None
    ) -> list[ImageJobRow]:
        """A key's jobs, newest first; `after` is the last id of the previous page."""
        query = select(ImageJobRow).where(ImageJobRow.key_id == key_id)
        query = query.where(
            ImageJobRow.batch_id.is_(None) if batch_id is None else ImageJobRow.batch_id == batch_id
        )
        if after:
            query = query.where(ImageJobRow.id < after)
        async with self._sessions() as session:
            return list((await session.execute(query.order_by(ImageJobRow.id.desc()).limit(limit))).scalars())

    async def unsettled(self, older_than_ms: int, limit: int = 100) -> list[tuple[str, str, int | None]]:
        """(id, status, price) of jobs that ended over `older_than_ms` ago, reservation still pending.

        Left so by a hub that died between recording a job's end and settling its money.
        """
        cutoff = now_ms() - older_than_ms
        query = (
            select(ImageJobRow.id, ImageJobRow.status, ImageJobRow.price_micros)
            .join(UsageRecord, UsageRecord.request_id == ImageJobRow.id)
            .where(
                UsageRecord.state == "pending",
                ImageJobRow.status.in_(TERMINAL),
                ImageJobRow.finished_at < cutoff,
            )
            .limit(limit)
        )
        async with self._sessions() as session:
            return [(job_id, status, price) for job_id, status, price in (await session.execute(query)).all()]

    async def mark_notified(self, job_id: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(ImageJobRow).where(ImageJobRow.id == job_id).values(notified=True))

    async def unnotified(self, older_than_ms: int, limit: int = 100) -> list[ImageJobRow]:
        """Jobs (not batch lines) that ended over `older_than_ms` ago and were never announced:
        their hub died between ending them and queueing their webhook events."""
        cutoff = now_ms() - older_than_ms
        query = (
            select(ImageJobRow)
            .where(
                ImageJobRow.status.in_(TERMINAL),
                ImageJobRow.notified.is_(False),
                ImageJobRow.batch_id.is_(None),
                ImageJobRow.finished_at < cutoff,
            )
            .limit(limit)
        )
        async with self._sessions() as session:
            return list((await session.execute(query)).scalars())

    async def sweep(self) -> int:
        """Delete ended jobs whose results expired (batch lines go with their batch)."""
        async with self._sessions.begin() as session:
            swept = await session.execute(
                delete(ImageJobRow).where(
                    ImageJobRow.status.in_(TERMINAL),
                    ImageJobRow.expires_at < now_ms(),
                    ImageJobRow.batch_id.is_(None),
                )
            )
        return rowcount(swept)

    async def depth(self) -> dict[str, int]:
        """Queued and in-progress counts, and the age in ms of the oldest queued job (metrics)."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(ImageJobRow.status, func.count(), func.min(ImageJobRow.created_at))
                    .where(ImageJobRow.status.in_((QUEUED, IN_PROGRESS)))
                    .group_by(ImageJobRow.status)
                )
            ).all()
        counts = {status: count for status, count, _ in rows}
        oldest = min((first for status, _, first in rows if status == QUEUED and first), default=None)
        return {
            QUEUED: counts.get(QUEUED, 0),
            IN_PROGRESS: counts.get(IN_PROGRESS, 0),
            "oldest_queued_ms": 0 if oldest is None else now_ms() - oldest,
        }
