"""Reserve before the upstream call, settle or release after: balances and usage stay consistent.

Every request gets one usage row, written `pending` together with its reservation in a single
transaction, before any upstream call. Settling or releasing flips that row exactly once (the
`state = 'pending'` guard), so a request can never be refunded or charged twice, and rows left
`pending` by a crash are found and released by `recover_stale`. An asynchronous job's reservation
is also fenced by the lease of the run holding it (`Reservation.fence`): a run that lost its
lease to another hub settles and releases nothing.

Each transaction starts with a write: on SQLite that takes the write lock up front (waiting via
busy_timeout) instead of failing to upgrade a read; on PostgreSQL the key row is locked with
FOR UPDATE, so concurrent reservations on one key are serialised and cannot overspend.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagehub.accounts.holds import InsufficientQuota, budget_period_start, hold, refund, rowcount
from imagehub.accounts.models import UsageRecord
from imagehub.accounts.usage_writer import UsageWriter

#: Request ids of reservations that outlive a process: an asynchronous job's (also a batch
#: line's). Their owner (the job queue, which re-runs or settles them after a crash) finishes
#: them; crash recovery never releases them behind its back.
DURABLE_PREFIX = "job_"


@dataclass(slots=True)
class Reservation:
    request_id: str
    key_id: str
    amount: int
    budget_period: str | None
    balance_held: bool
    started: float  # monotonic, for latency
    journal: dict[str, Any] | None = None  # set for unmetered requests: the record so far
    # A job run's lease token: settle and release change the record only while its fence is this.
    fence: str | None = None


def usage_row(**values: Any) -> dict[str, Any]:
    """A full usage row for the journal: every column present, so batches insert uniformly."""
    row: dict[str, Any] = {
        "requested_model": None,
        "provider": None,
        "size": None,
        "quality": None,
        "n_requested": 0,
        "n_delivered": 0,
        "reserved_micros": 0,
        "price_micros": 0,
        "budget_period": None,
        "balance_held": False,
        "status_code": None,
        "error_code": None,
        "latency_ms": None,
        "client_did": None,
        "finished_at": None,
    }
    row.update(values)
    return row


def _fenced(reservation: Reservation) -> tuple[ColumnElement[bool], ...]:
    """The guard a fenced reservation adds: its record still answers to this run's token."""
    return () if reservation.fence is None else (UsageRecord.fence == reservation.fence,)


class Ledger:
    """Reservations and usage records.

    Requests that hold money (the key has a balance or a budget) reserve and settle in the
    database. Requests that do not (no limits, sandbox keys, refusals) are journaled and written
    in batches by the UsageWriter: the same records, without two transactions per request.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        writer: UsageWriter | None = None,
        *,
        serialize_writes: bool = False,
    ) -> None:
        self._sessions = sessions
        self._writer = writer
        # SQLite has one writer at a time; queueing writers on a lock in-process avoids the busy
        # handler's sleeps (milliseconds each) when transactions collide.
        self._write_lock = asyncio.Lock() if serialize_writes else None

    def journaled(self, metered: bool) -> bool:
        """True when a request's records go to the journal: then no ledger call ever suspends."""
        return not metered and self._writer is not None

    @property
    def journals_rejections(self) -> bool:
        return self._writer is not None

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
        else:
            async with self._write_lock:
                yield

    async def reserve(
        self,
        *,
        request_id: str,
        key_id: str,
        amount: int,
        model: str,
        size: str | None,
        quality: str | None,
        n: int,
        client_did: str | None = None,
        metered: bool = True,
        requested_model: str | None = None,
    ) -> Reservation:
        """Hold `amount` against the key's balance and budget, or raise InsufficientQuota (402).

        `metered=False` (the key has neither) journals the request instead of writing to the
        database: there is nothing to hold, only a record to keep.
        """
        now = datetime.now(UTC)
        pending: dict[str, Any] = {
            "request_id": request_id,
            "key_id": key_id,
            "state": "pending",
            "model": model,
            "requested_model": requested_model,
            "size": size,
            "quality": quality,
            "n_requested": n,
            "reserved_micros": amount,
            "client_did": client_did,
        }
        if not metered and self._writer is not None:
            entry = usage_row(**pending, created_at=now.isoformat())
            self._writer.begin(entry)
            return Reservation(request_id, key_id, amount, None, False, time.monotonic(), journal=entry)
        period: str | None = None
        balance_held = False
        async with self.writing(), self._sessions.begin() as session:
            session.add(UsageRecord(**pending, created_at=now))
            await session.flush()  # the write comes first: it takes SQLite's write lock
            if amount > 0:
                balance_held, period = await hold(session, key_id, amount, now)
                if balance_held or period is not None:
                    await session.execute(
                        update(UsageRecord)
                        .where(UsageRecord.request_id == request_id)
                        .values(budget_period=period, balance_held=balance_held)
                    )
        return Reservation(request_id, key_id, amount, period, balance_held, time.monotonic())

    async def settle(
        self,
        reservation: Reservation,
        *,
        price: int,
        provider: str,
        n_delivered: int,
        status_code: int = 200,
        error_code: str | None = None,
        size: str | None = None,
        quality: str | None = None,
    ) -> bool:
        """Charge `price` (≤ the reservation) and refund the rest; False if already finished.

        A status other than 200 is a stream that ended early, charged for what it delivered.
        """
        values: dict[str, Any] = {"provider": provider, "n_delivered": n_delivered}
        if size:
            values["size"] = size
        if quality:
            values["quality"] = quality
        return await self._finish(
            reservation, "settled", min(price, reservation.amount), status_code, error_code, values
        )

    async def release(
        self,
        reservation: Reservation,
        *,
        status_code: int,
        error_code: str | None,
        provider: str | None = None,
    ) -> bool:
        """Refund everything: the request delivered nothing."""
        values: dict[str, Any] = {"provider": provider} if provider else {}
        return await self._finish(reservation, "released", 0, status_code, error_code, values)

    async def revise(
        self,
        reservation: Reservation,
        *,
        charged: int,
        price: int = 0,
        n_delivered: int = 0,
        status_code: int,
        error_code: str,
    ) -> bool:
        """Correct a settlement whose answer did not (all) reach the client: refund the difference.

        `price` and `n_delivered` are what the client did get (a streamed request's first images);
        with nothing delivered the record becomes `released`. Only for reservations held in the
        database: a journaled settlement never suspends, so nothing interrupts it before answering.
        """
        price = min(price, charged)
        async with self.writing(), self._sessions.begin() as session:
            flipped = await session.execute(
                update(UsageRecord)
                .where(UsageRecord.request_id == reservation.request_id, UsageRecord.state == "settled")
                .where(*_fenced(reservation))
                .values(
                    state="settled" if n_delivered else "released",
                    price_micros=price,
                    n_delivered=n_delivered,
                    status_code=status_code,
                    error_code=error_code,
                    finished_at=datetime.now(UTC),
                )
            )
            if not rowcount(flipped):
                return False
            await refund(
                session,
                reservation.key_id,
                charged - price,
                reservation.balance_held,
                reservation.budget_period,
            )
        return True

    async def _finish(
        self,
        reservation: Reservation,
        state: str,
        price: int,
        status_code: int,
        error_code: str | None,
        values: dict[str, Any],
    ) -> bool:
        latency = int((time.monotonic() - reservation.started) * 1000)
        if reservation.journal is not None and self._writer is not None:
            self._writer.finish(
                {
                    **reservation.journal,
                    **values,
                    "state": state,
                    "price_micros": price,
                    "status_code": status_code,
                    "error_code": error_code,
                    "latency_ms": latency,
                    "finished_at": datetime.now(UTC).isoformat(),
                }
            )
            return True
        async with self.writing(), self._sessions.begin() as session:
            flipped = await session.execute(
                update(UsageRecord)
                .where(UsageRecord.request_id == reservation.request_id, UsageRecord.state == "pending")
                .where(*_fenced(reservation))
                .values(
                    state=state,
                    price_micros=price,
                    status_code=status_code,
                    error_code=error_code,
                    latency_ms=latency,
                    finished_at=datetime.now(UTC),
                    **values,
                )
            )
            if not rowcount(flipped):
                return False  # recovery got there first (it refunded), or a newer run holds it
            await refund(
                session,
                reservation.key_id,
                reservation.amount - price,
                reservation.balance_held,
                reservation.budget_period,
            )
        return True

    async def record_rejected(
        self,
        *,
        request_id: str,
        key_id: str,
        model: str,
        status_code: int,
        error_code: str | None,
        client_did: str | None = None,
        state: str = "rejected",
    ) -> None:
        """A request refused before any reservation (bad input, rate limit) is still on record.

        `state="replayed"`: an Idempotency-Key replay, answered from the stored response at no charge.
        """
        now = datetime.now(UTC)
        if self._writer is not None:
            self._writer.finish(
                usage_row(
                    request_id=request_id,
                    key_id=key_id,
                    state=state,
                    model=model[:100],
                    status_code=status_code,
                    error_code=error_code,
                    created_at=now.isoformat(),
                    finished_at=now.isoformat(),
                    latency_ms=0,
                    client_did=client_did,
                )
            )
            return
        async with self.writing(), self._sessions.begin() as session:
            session.add(
                UsageRecord(
                    request_id=request_id,
                    key_id=key_id,
                    state=state,
                    model=model[:100],
                    n_requested=0,
                    status_code=status_code,
                    error_code=error_code,
                    created_at=now,
                    finished_at=now,
                    latency_ms=0,
                    client_did=client_did,
                )
            )

    async def recover_stale(self, older_than: timedelta) -> int:
        """Release reservations left pending by a crash; their requests never answered anyone."""
        cutoff = datetime.now(UTC) - older_than
        recovered = 0
        async with self._sessions() as session:
            stale = (
                await session.execute(
                    select(
                        UsageRecord.request_id,
                        UsageRecord.key_id,
                        UsageRecord.reserved_micros,
                        UsageRecord.balance_held,
                        UsageRecord.budget_period,
                    )
                    .where(
                        UsageRecord.state == "pending",
                        UsageRecord.created_at < cutoff,
                        ~UsageRecord.request_id.startswith(DURABLE_PREFIX),
                    )
                    .limit(1000)
                )
            ).all()
        for request_id, key_id, amount, balance_held, period in stale:
            async with self.writing(), self._sessions.begin() as session:
                flipped = await session.execute(
                    update(UsageRecord)
                    .where(UsageRecord.request_id == request_id, UsageRecord.state == "pending")
                    .values(
                        state="interrupted",
                        price_micros=0,
                        finished_at=datetime.now(UTC),
                        error_code="interrupted",
                    )
                )
                if rowcount(flipped):
                    await refund(session, key_id, amount, balance_held, period)
                    recovered += 1
        return recovered


__all__ = ["InsufficientQuota", "Ledger", "Reservation", "budget_period_start", "timedelta"]
