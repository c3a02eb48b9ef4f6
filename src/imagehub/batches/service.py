"""Creating, reading, counting and cancelling batches.

Creating a batch validates its input file line by line and queues one job per valid line, in one
transaction with the batch row, so a batch never exists with only some of its lines. Lines are
queued at batch priority (interactive jobs are claimed first, and one worker per hub never takes
batch lines) and reserve their money as they start, within the key's budget then.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagehub.accounts.durable import record_unrun
from imagehub.accounts.keys import KeyInfo
from imagehub.batches.files import FileStore
from imagehub.batches.lines import EDITS, GENERATIONS, parse_lines, referenced_files
from imagehub.batches.models import CANCELLING, IN_PROGRESS, WINDOWS, BatchRow, new_id
from imagehub.catalog import Catalog
from imagehub.errors import Forbidden, InvalidRequest
from imagehub.inputs.sources import request_operation
from imagehub.jobs.models import BATCH, CANCELLED, FAILED, QUEUED, SUCCEEDED, ImageJobRow, now_ms
from imagehub.jobs.requests import dump_request, unrun_line

ENDPOINTS = (GENERATIONS, EDITS)
#: A cancelled request's status on its usage record (as for a client that went away).
CANCELLED_STATUS = 499


class BatchService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], files: FileStore, catalog: Catalog
    ) -> None:
        self._sessions = sessions
        self.files = files
        self.catalog = catalog

    async def create(
        self,
        key: KeyInfo,
        *,
        input_file_id: str,
        endpoint: str,
        completion_window: str,
        metadata: dict[str, str] | None,
        base_url: str,
    ) -> BatchRow:
        if key.admin:
            raise Forbidden(
                "Admin keys manage the hub; use a live or sandbox key for batches.", code="admin_key"
            )
        if endpoint not in ENDPOINTS:
            raise InvalidRequest(
                f"This hub runs batches for {', '.join(ENDPOINTS)}.", param="endpoint", code="invalid_value"
            )
        if completion_window not in WINDOWS:
            raise InvalidRequest(
                "'completion_window' must be 24h.", param="completion_window", code="invalid_value"
            )
        source = await self.files.get(input_file_id, key.id)
        if source is None or source.purpose != "batch":
            raise InvalidRequest(
                f"No file '{input_file_id}' with purpose 'batch'.",
                param="input_file_id",
                code="invalid_value",
            )
        uploads = (
            await self.files.images(referenced_files(source.content), key.id) if endpoint == EDITS else {}
        )
        valid, invalid = parse_lines(source.content, endpoint, self.catalog, uploads)
        if not valid and not invalid:
            raise InvalidRequest("The input file has no lines.", param="input_file_id", code="empty_file")
        now = now_ms()
        batch = BatchRow(
            id=new_id("batch_"),
            key_id=key.id,
            endpoint=endpoint,
            input_file_id=input_file_id,
            status=IN_PROGRESS,
            completion_window=completion_window,
            metadata_json=orjson.dumps(metadata).decode() if metadata else None,
            invalid_lines=b"\n".join(orjson.dumps(line) for line in invalid).decode() if invalid else None,
            base_url=base_url,
            total=len(valid) + len(invalid),
            created_at=now,
            in_progress_at=now,
            expires_at=now + WINDOWS[completion_window],
        )
        jobs = [
            ImageJobRow(
                id=new_id("job_"),
                key_id=key.id,
                operation=request_operation(line.request),
                status=QUEUED,
                model=line.model,
                size=line.size,
                request=dump_request(line.request),
                priority=BATCH,
                batch_id=batch.id,
                custom_id=line.custom_id,
                attempts=0,
                cancel_requested=False,
                created_at=now + index,  # keeps the file's order among the batch's lines
            )
            for index, line in enumerate(valid)
        ]
        async with self._sessions.begin() as session:
            session.add(batch)
            session.add_all(jobs)
        return batch

    async def get(self, batch_id: str, key_id: str | None = None) -> BatchRow | None:
        async with self._sessions() as session:
            row = await session.get(BatchRow, batch_id, populate_existing=True)
        return row if row is not None and (key_id is None or row.key_id == key_id) else None

    async def page(self, key_id: str, *, after: str | None, limit: int) -> list[BatchRow]:
        query = select(BatchRow).where(BatchRow.key_id == key_id)
        if after:
            query = query.where(BatchRow.id < after)
        async with self._sessions() as session:
            return list((await session.execute(query.order_by(BatchRow.id.desc()).limit(limit))).scalars())

    async def line_states(self, batch_id: str) -> dict[str, int]:
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(ImageJobRow.status, func.count())
                    .where(ImageJobRow.batch_id == batch_id)
                    .group_by(ImageJobRow.status)
                )
            ).all()
        return {status: count for status, count in rows}

    async def counts(self, row: BatchRow) -> dict[str, int]:
        return request_counts(row, await self.line_states(row.id))

    async def cancel(self, batch_id: str, key_id: str) -> BatchRow | None:
        """Stop a batch: queued lines are cancelled now, running ones asked to stop; it then ends
        `cancelled` with whatever lines finished in its output file."""
        row = await self.get(batch_id, key_id)
        if row is None or row.status != IN_PROGRESS:
            return row
        now = now_ms()
        async with self._sessions.begin() as session:
            await session.execute(
                update(BatchRow)
                .where(BatchRow.id == batch_id, BatchRow.status == IN_PROGRESS)
                .values(status=CANCELLING, cancelling_at=now)
            )
            await stop_lines(session, batch_id, now)
        return await self.get(batch_id, key_id)


def request_counts(row: BatchRow, states: dict[str, int]) -> dict[str, int]:
    """OpenAI's request_counts from the lines' states (lines invalid at submission are failed)."""
    invalid = len(row.invalid_lines.splitlines()) if row.invalid_lines else 0
    return {
        "total": row.total,
        "completed": states.get(SUCCEEDED, 0),
        "failed": states.get(FAILED, 0) + invalid,
    }


async def stop_lines(session: AsyncSession, batch_id: str, now: int) -> None:
    """Cancel a batch's queued lines and flag its running ones (their workers see the flag).

    A line cancelled before it ran gets its one usage record in the same transaction
    (`cancelled`, nothing charged), so a crash cannot leave it with none or write it twice.
    """
    stopped = await session.execute(
        update(ImageJobRow)
        .where(ImageJobRow.batch_id == batch_id, ImageJobRow.status == QUEUED)
        .values(status=CANCELLED, finished_at=now)
        .returning(
            ImageJobRow.id, ImageJobRow.key_id, ImageJobRow.model, ImageJobRow.size, ImageJobRow.request
        )
    )
    unrun = [unrun_line(*line) for line in stopped.all()]
    await record_unrun(session, unrun, CANCELLED_STATUS, "cancelled")
    await session.execute(
        update(ImageJobRow)
        .where(ImageJobRow.batch_id == batch_id, ImageJobRow.status == "in_progress")
        .values(cancel_requested=True)
    )


def metadata_of(body: dict[str, Any]) -> dict[str, str] | None:
    metadata = body.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or len(metadata) > 16:
        raise InvalidRequest("'metadata' must be an object of at most 16 pairs.", param="metadata")
    return {str(k)[:64]: str(v)[:512] for k, v in metadata.items()}
