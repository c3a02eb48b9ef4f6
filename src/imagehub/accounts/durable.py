"""Reservations that outlive a process: an asynchronous job's, held under the job's id.

The ledger's own calls assume the process that reserved is the one that settles. A job may be
reserved on one hub and run on another, or on the same hub after a restart, so here a pending
reservation is found again from its usage row, a batch line asks whether it has reserved yet,
and a job that a hub shutting down gave back (its reservation released on the way) is held
again under the same usage record, so the job still ends with exactly one.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagehub.accounts.holds import hold, rowcount
from imagehub.accounts.ledger import Ledger, Reservation
from imagehub.accounts.models import UsageRecord


class DurableReservations:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], ledger: Ledger) -> None:
        self._sessions = sessions
        self._ledger = ledger

    async def find(self, request_id: str) -> Reservation | None:
        """The reservation still pending under `request_id`, to settle or release; else None."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(
                        UsageRecord.key_id,
                        UsageRecord.reserved_micros,
                        UsageRecord.budget_period,
                        UsageRecord.balance_held,
                    ).where(UsageRecord.request_id == request_id, UsageRecord.state == "pending")
                )
            ).first()
        if row is None:
            return None
        key_id, amount, period, balance_held = row
        return Reservation(request_id, key_id, amount, period, balance_held, time.monotonic())

    async def exists(self, request_id: str) -> bool:
        """Whether the request (a batch line) has its usage record yet, in whatever state."""
        async with self._sessions() as session:
            found = await session.execute(
                select(UsageRecord.state).where(UsageRecord.request_id == request_id)
            )
        return found.first() is not None

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
