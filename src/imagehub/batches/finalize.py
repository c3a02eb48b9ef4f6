"""Ending batches: once every line ended, write the output and error files, exactly once.

Any hub may notice a batch is done; the one whose conditional UPDATE moves it to `finalizing`
writes its files, and queues `batch.completed` in the very transaction that ends the batch (the
outbox pattern), so a hub that dies right after cannot lose the event. A hub that dies while
finalizing leaves `finalizing_at` behind; after a minute another hub takes the batch over (and
the first, should it wake, finds its stamp gone and writes nothing). Batches past their window
are stopped (`expired`), and ended batches are swept with their lines and files one window
after they ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import orjson
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagehub.accounts.holds import rowcount
from imagehub.batches.files import FileStore
from imagehub.batches.models import (
    CANCELLED,
    CANCELLING,
    COMPLETED,
    ENDED,
    EXPIRED,
    FINALIZING,
    IN_PROGRESS,
    WINDOWS,
    BatchFileRow,
    BatchRow,
)
from imagehub.batches.service import BatchService, request_counts, stop_lines
from imagehub.batches.views import batch_object
from imagehub.jobs.models import CANCELLED as LINE_CANCELLED
from imagehub.jobs.models import FAILED, SUCCEEDED, TERMINAL, ImageJobRow, now_ms
from imagehub.jobs.views import images_response
from imagehub.webhooks.store import WebhookStore, emit_in

log = logging.getLogger("imagehub.batches")
STUCK_FINALIZING_MS = 60_000


def _line(row: ImageJobRow, base_url: str) -> dict[str, Any]:
    line_id = f"batch_req_{row.id.removeprefix('job_')}"
    if row.status == SUCCEEDED:
        body = images_response(row, base_url)
        return {
            "id": line_id,
            "custom_id": row.custom_id,
            "response": {"status_code": 200, "request_id": row.id, "body": body},
            "error": None,
        }
    error = (
        orjson.loads(row.error)
        if row.error
        else {"code": "batch_cancelled", "message": "Not run: cancelled."}
    )
    status = int(error.get("status", 500))
    return {
        "id": line_id,
        "custom_id": row.custom_id,
        "response": {
            "status_code": status,
            "request_id": row.id,
            "body": {
                "error": {
                    "message": error["message"],
                    "type": "server_error",
                    "param": None,
                    "code": error["code"],
                }
            },
        }
        if row.status == FAILED
        else None,
        "error": {"code": error["code"], "message": error["message"]},
    }


class Finalizer:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        batches: BatchService,
        files: FileStore,
        webhooks: WebhookStore,
        wake_webhooks: Any,
    ) -> None:
        self._sessions = sessions
        self.batches = batches
        self.files = files
        self.webhooks = webhooks
        self.wake_webhooks = wake_webhooks

    async def run_forever(self, interval: float) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("batch upkeep failed; will retry")
            await asyncio.sleep(interval)

    async def tick(self) -> None:
        now = now_ms()
        async with self._sessions() as session:
            open_batches = list(
                (
                    await session.execute(
                        select(BatchRow).where(
                            or_(
                                BatchRow.status.in_((IN_PROGRESS, CANCELLING)),
                                and_(
                                    BatchRow.status == FINALIZING,
                                    BatchRow.finalizing_at < now - STUCK_FINALIZING_MS,
                                ),
                            )
                        )
                    )
                ).scalars()
            )
        for batch in open_batches:
            if batch.status == IN_PROGRESS and batch.expires_at < now:
                await self._expire(batch.id, now)
                continue
            states = await self.batches.line_states(batch.id)
            if all(status in TERMINAL for status in states):
                await self._finalize(batch, now)
        await self._sweep(now)

    async def _expire(self, batch_id: str, now: int) -> None:
        async with self._sessions.begin() as session:
            moved = await session.execute(
                update(BatchRow)
                .where(BatchRow.id == batch_id, BatchRow.status == IN_PROGRESS)
                .values(status=CANCELLING)
            )
            if rowcount(moved):
                await stop_lines(session, batch_id, now)

    async def _finalize(self, batch: BatchRow, now: int) -> None:
        guard = BatchRow.status == batch.status
        if batch.status == FINALIZING:  # taken over from a hub that died finalizing it
            guard = and_(guard, BatchRow.finalizing_at == batch.finalizing_at)
        async with self._sessions.begin() as session:
            claimed = await session.execute(
                update(BatchRow)
                .where(BatchRow.id == batch.id, guard)
                .values(status=FINALIZING, finalizing_at=now)
            )
        if not rowcount(claimed):
            return  # another hub is finalizing it
        async with self._sessions() as session:
            lines = list(
                (
                    await session.execute(
                        select(ImageJobRow)
                        .where(ImageJobRow.batch_id == batch.id)
                        .order_by(ImageJobRow.created_at)
                    )
                ).scalars()
            )
        output = [_line(row, batch.base_url) for row in lines if row.status == SUCCEEDED]
        errors = [_line(row, batch.base_url) for row in lines if row.status != SUCCEEDED]
        invalid = batch.invalid_lines.encode() + b"\n" if batch.invalid_lines else b""
        stopped = any(row.status == LINE_CANCELLED for row in lines)
        if batch.cancelling_at is not None:
            final = CANCELLED
        elif stopped and batch.expires_at < now:
            final = EXPIRED
        else:
            final = COMPLETED
        keep_until = now + WINDOWS[batch.completion_window]
        files: list[BatchFileRow] = []
        values: dict[str, Any] = {"status": final, "finalizing_at": now}
        if output:
            files.append(
                self.files.new(
                    batch.key_id, "batch_output", f"{batch.id}_output.jsonl", _jsonl(output), keep_until
                )
            )
            values["output_file_id"] = files[-1].id
        if errors or invalid:
            content = invalid + _jsonl(errors)
            files.append(
                self.files.new(batch.key_id, "batch_output", f"{batch.id}_error.jsonl", content, keep_until)
            )
            values["error_file_id"] = files[-1].id
        values["cancelled_at" if final == CANCELLED else "completed_at"] = now
        async with self._sessions.begin() as session:
            ended = await session.execute(
                update(BatchRow)
                .where(BatchRow.id == batch.id, BatchRow.status == FINALIZING, BatchRow.finalizing_at == now)
                .values(**values)
            )
            if not rowcount(ended):
                return  # taken over meanwhile by a hub that thought this one dead: it writes the files
            session.add_all(files)
            queued = final == COMPLETED and await emit_in(
                session, batch.key_id, "batch.completed", self._completed(batch, values, lines)
            )
        if queued:
            self.wake_webhooks()

    @staticmethod
    def _completed(batch: BatchRow, values: dict[str, Any], lines: list[ImageJobRow]) -> dict[str, Any]:
        """The batch object as it is once this transaction commits (the event carries it)."""
        for name, value in values.items():
            setattr(batch, name, value)  # a detached row: nothing is written through it
        return batch_object(batch, request_counts(batch, dict(Counter(row.status for row in lines))))

    async def _sweep(self, now: int) -> None:
        async with self._sessions() as session:
            old = list(
                (
                    await session.execute(
                        select(BatchRow.id, BatchRow.input_file_id).where(
                            BatchRow.status.in_(ENDED),
                            or_(
                                BatchRow.completed_at < now - WINDOWS["24h"],
                                BatchRow.cancelled_at < now - WINDOWS["24h"],
                            ),
                        )
                    )
                ).all()
            )
        for batch_id, _ in old:
            async with self._sessions.begin() as session:
                await session.execute(delete(ImageJobRow).where(ImageJobRow.batch_id == batch_id))
                await session.execute(delete(BatchRow).where(BatchRow.id == batch_id))
        await self.files.sweep()


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)
