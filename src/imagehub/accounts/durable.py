"""Reservations that outlive a process: an asynchronous job's, held under the job's id.

The ledger's own calls assume the process that reserved is the one that settles. A job may be
reserved on one hub and run on another, or on the same hub after a restart, so here a pending
reservation is found again from its usage row, a batch line asks whether it has reserved yet,
and a job that a hub shutting down gave back (its reservation released on the way) is held
again under the same usage record, so the job still ends with exactly one. Each run's
reservation is fenced by its lease token (see `Reservation.fence` and jobs/queue.py). A batch line that is
cancelled before it reserved anything gets its one record here too (`cancelled`, no charge).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagehub.accounts.holds import hold, rowcount
from imagehub.accounts.ledger import Ledger, Reservation
from imagehub.accounts.models import UsageRecord


@dataclass(frozen=True, slots=True)
class Unrun:
    """A request that ended before it reserved anything: what its record says it was."""

    request_id: str
    key_id: str
    model: str
    size: str | None
    n: int


async def record_unrun(session: AsyncSession, requests: list[Unrun], status_code: int, code: str) -> None:
    """Write a `cancelled` record (nothing reserved, nothing charged) for each request that has
    none yet, inside the caller's transaction; a request that already has one keeps it."""
    if not requests:
        return
    now = datetime.now(UTC)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(UsageRecord)
        .values(
            [
                {
                    "request_id": unrun.request_id,
                    "key_id": unrun.key_id,
                    "state": "cancelled",
                    "model": unrun.model[:100],
                    "size": unrun.size,
                    "n_requested": unrun.n,
                    "n_delivered": 0,
                    "reserved_micros": 0,
                    "price_micros": 0,
                    "balance_held": False,
                    "status_code": status_code,
                    "error_code": code,
                    "latency_ms": 0,
                    "created_at": now,
                    "finished_at": now,
                }
                for unrun in requests
            ]
        )
        .on_conflict_do_nothing(index_elements=["request_id"])
    )


class DurableReservations:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], ledger: Ledger) -> None:
        self._sessions = sessions
        self._ledger = ledger

    async def find(self, request_id: str, fence: str | None = None) -> Reservation | None:
        """The reservation still pending under `request_id`, to settle or release; else None.

        With `fence` (a job run's lease token), only while the record answers to it, and the
        reservation returned is fenced by it: it settles and releases nothing once another run
        has taken the job over.
        """
        query = select(
            UsageRecord.key_id,
            UsageRecord.reserved_micros,
            UsageRecord.budget_period,
            UsageRecord.balance_held,
        ).where(UsageRecord.request_id == request_id, UsageRecord.state == "pending")
        if fence is not None:
            query = query.where(UsageRecord.fence == fence)
        async with self._sessions() as session:
            row = (await session.execute(query)).first()
        if row is None:
            return None
        key_id, amount, period, balance_held = row
        return Reservation(request_id, key_id, amount, period, balance_held, time.monotonic(), fence=fence)

    async def exists(self, request_id: str) -> bool:
        """Whether the request (a batch line) has its usage record yet, in whatever state."""
        async with self._sessions() as session:
            found = await session.execute(
                select(UsageRecord.state).where(UsageRecord.request_id == request_id)
            )
        return found.first() is not None

    async def record_unrun(self, unrun: Unrun, status_code: int, code: str) -> None:
        """`record_unrun` for one request, in its own transaction."""
        async with self._ledger.writing(), self._sessions.begin() as session:
            await record_unrun(session, [unrun], status_code, code)

    async def reopen(self, request_id: str) -> Reservation | None:
        """Hold a released reservation's amount again and make its record pending once more.

        For a job a hub gave back while shutting down: raises InsufficientQuota (402) when the
        key can no longer cover it; None when there is no released record to reopen.
        """
        now = datetime.now(UTC)
        async with self._ledger.writing(), self._sessions.begin() as session:
            row = (
                await session.execute(
                    select(UsageRecord.key_id, UsageRecord.reserved_micros).where(
                        UsageRecord.request_id == request_id, UsageRecord.state == "released"
                    )
                )
            ).first()
            if row is None:
                return None
            key_id, amount = row
            reopened = await session.execute(
                update(UsageRecord)
                .where(UsageRecord.request_id == request_id, UsageRecord.state == "released")
                .values(state="pending", status_code=None, error_code=None, finished_at=None, price_micros=0)
            )
            if not rowcount(reopened):
                return None
            balance_held, period = await hold(session, key_id, amount, now) if amount > 0 else (False, None)
            await session.execute(
                update(UsageRecord)
                .where(UsageRecord.request_id == request_id)
                .values(budget_period=period, balance_held=balance_held)
            )
        return Reservation(request_id, key_id, amount, period, balance_held, time.monotonic())
