"""One request's money and usage record, kept right whatever cancels the request.

Both ways of serving a request (a whole answer, or a stream of events) reserve, settle, release
and record through `Books`. Each ledger call that can suspend runs to completion
(`run_to_completion`); when a cancel arrived meanwhile, `Books` undoes what the cancelled
request no longer needs (releases its reservation, voids its settlement) and then re-raises the
cancel. Journaled calls never suspend, so nothing can interrupt them.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from imagehub.accounts.ledger import Ledger, Reservation
from imagehub.concurrency.completion import Completed, run_to_completion
from imagehub.errors import HubError

log = logging.getLogger("imagehub.accounts")

UNPARSED_MODEL = "(unparsed)"
#: What a request that ended because its client hung up is recorded with (nginx's status for it).
CLIENT_CLOSED_STATUS = 499
CLIENT_CLOSED_CODE = "client_disconnected"


def new_request_id() -> str:
    """`req_` + the time in ms (12 hex digits) + 64 random bits (16 hex digits).

    Time first, so ids sort by when they were made: the usage table's primary-key index then
    grows at its end instead of taking each insert in a random leaf page. With random ids every
    batched row dirtied its own index page (three or four page writes per request in SQLite's WAL
    at c16); the random half keeps ids unique across processes and hubs.
    """
    return f"req_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"


@dataclass(slots=True)
class RequestContext:
    """One request's identity and record-keeping, shared by the API layer and the service.

    `recorded` turns true once the request has its usage record (a refusal written, or a
    reservation whose settle or release will finish the record). Whatever layer sees the request
    end without one writes it, so every request ends with exactly one.
    """

    request_id: str = field(default_factory=new_request_id)
    client_did: str | None = None
    model: str = UNPARSED_MODEL
    recorded: bool = False


def outcome_of(error: BaseException) -> tuple[int, str]:
    """The status and code a request that ended with `error` is recorded with."""
    if isinstance(error, HubError):
        return error.status, error.code or error.type
    if isinstance(error, asyncio.CancelledError):
        return CLIENT_CLOSED_STATUS, CLIENT_CLOSED_CODE
    return 500, type(error).__name__


@dataclass(frozen=True, slots=True)
class Hold:
    """What to reserve for a request, and on what terms it is recorded until it settles."""

    key_id: str
    amount: int
    metered: bool  # the key has a balance or a budget: the hold is a database transaction
    model: str
    size: str | None
    quality: str | None
    n: int
    requested: str | None = None  # the name the client sent, where another model serves it


class Books:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def reserve(self, context: RequestContext, hold: Hold) -> Reservation:
        """Reserve `hold.amount`; a cancel mid-way lets the transaction end, then gives the money back.

        A refusal (402) is put on record before it is raised.
        """
        reserving = self.ledger.reserve(
            request_id=context.request_id,
            key_id=hold.key_id,
            amount=hold.amount,
            model=hold.model,
            size=hold.size,
            quality=hold.quality,
            n=hold.n,
            client_did=context.client_did,
            metered=hold.metered,
            requested_model=hold.requested,
        )
        if self.ledger.journaled(hold.metered):
            reservation = await reserving  # journaling never suspends: nothing can interrupt it
            context.recorded = True
            return reservation
        done = await run_to_completion(reserving)
        if done.error is None:
            context.recorded = True
        if done.cancelled:
            if done.value is not None:
                await self.release(done.value, asyncio.CancelledError())
            raise asyncio.CancelledError
        if isinstance(done.error, HubError):
            await self.reject(context, hold.key_id, done.error)
        return done.result()

    async def settle(
        self,
        reservation: Reservation,
        *,
        price: int,
        provider: str,
        n_delivered: int,
        size: str | None,
        quality: str | None,
        if_gone: tuple[int, int] = (0, 0),
    ) -> None:
        """Charge for what is about to be delivered; if the client is gone by the end, charge less.

        `if_gone` is (price, images) the client already has should it be gone: nothing for a whole
        answer, the images already sent for a stream. Raises CancelledError (after revising the
        charge) when cancelled meanwhile, or the ledger's error (after releasing): either way the
        caller must not deliver.
        """
        settling = self.ledger.settle(
            reservation,
            price=price,
            provider=provider,
            n_delivered=n_delivered,
            size=size,
            quality=quality or "",
        )
        done = await _finish(reservation, settling)
        if done is None or (not done.cancelled and done.error is None):
            return
        if done.error is not None:
            await self.release(reservation, done.error, provider=provider)
            raise done.error
        if done.value:  # settled, but nobody will read (all of) the answer: take the charge back
            revising = self.ledger.revise(
                reservation,
                charged=min(price, reservation.amount),
                price=if_gone[0],
                n_delivered=if_gone[1],
                status_code=CLIENT_CLOSED_STATUS,
                error_code=CLIENT_CLOSED_CODE,
            )
            revised = await run_to_completion(revising)
            if revised.error is not None:
                log.error("could not revise the settlement of %s: %r", reservation.request_id, revised.error)
        raise asyncio.CancelledError

    async def settle_partly(
        self,
        reservation: Reservation,
        *,
        price: int,
        provider: str,
        n_delivered: int,
        size: str | None,
        quality: str | None,
        error: BaseException,
    ) -> None:
        """A stream that ended early (hang-up, upstream failure): charge what the client got.

        Recorded with the status and code of `error`; with nothing delivered, a full release.
        """
        if n_delivered == 0:
            await self.release(reservation, error, provider=provider)
            return
        status, code = outcome_of(error)
        finishing = self.ledger.settle(
            reservation,
            price=price,
            provider=provider,
            n_delivered=n_delivered,
            status_code=status,
            error_code=code,
            size=size,
            quality=quality or "",
        )
        done = await _finish(reservation, finishing)
        if done is not None and done.error is not None:  # stays pending; recover_stale refunds it
            log.error("could not settle %s: %r", reservation.request_id, done.error)

    async def release(
        self, reservation: Reservation, error: BaseException, provider: str | None = None
    ) -> None:
        """Refund in full, even if the request is cancelled meanwhile; `error` says why."""
        status, code = outcome_of(error)
        releasing = self.ledger.release(reservation, status_code=status, error_code=code, provider=provider)
        done = await _finish(reservation, releasing)
        if done is None:
            return
        if done.error is not None:  # the row stays pending; recover_stale refunds it later
            log.error("could not release %s: %r", reservation.request_id, done.error)
        if done.cancelled and not isinstance(error, asyncio.CancelledError):
            raise asyncio.CancelledError

    async def reject(self, context: RequestContext, key_id: str, error: BaseException) -> None:
        """Put a request that ended without a reservation on record, once; never interrupted."""
        if context.recorded:
            return
        status, code = outcome_of(error)
        await self.record(context, key_id, status, code, state="rejected")

    async def record(
        self, context: RequestContext, key_id: str, status: int, code: str | None, *, state: str
    ) -> None:
        """Write the request's one record (no reservation behind it): refused, or a replay."""
        context.recorded = True
        recording = self.ledger.record_rejected(
            request_id=context.request_id,
            key_id=key_id,
            model=context.model,
            status_code=status,
            error_code=code,
            client_did=context.client_did,
            state=state,
        )
        if self.ledger.journals_rejections:
            await recording
            return
        done = await run_to_completion(recording)
        if done.error is not None:
            log.error("could not record %s: %r", context.request_id, done.error)
        if done.cancelled:
            raise asyncio.CancelledError


async def _finish(reservation: Reservation, work: Coroutine[Any, Any, bool]) -> Completed[bool] | None:
    """Finish a reservation's record: directly when journaled (it never suspends, so no cancel can
    land between finishing and answering), else run to completion; None when journaled."""
    if reservation.journal is not None:
        await work
        return None
    return await run_to_completion(work)
