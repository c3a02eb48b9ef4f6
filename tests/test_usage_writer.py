"""The usage writer's batching: nothing waits for a later request to be written."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from imagehub.accounts.db import create_engine, migrate, sessionmaker
from imagehub.accounts.ledger import usage_row
from imagehub.accounts.models import UsageRecord
from imagehub.accounts.usage_writer import UsageWriter


def _entry(index: int) -> dict[str, object]:
    now = datetime.now(UTC).isoformat()
    return usage_row(
        request_id=f"req_{index}",
        key_id="key_x",
        state="settled",
        model="dall-e-2",
        created_at=now,
        finished_at=now,
    )


async def _scenario(folder: Path) -> int:
    engine = create_engine(f"sqlite+aiosqlite:///{folder}/u.db")
    await migrate(engine)
    sessions = sessionmaker(engine)
    first_flush_started = asyncio.Event()

    @contextlib.asynccontextmanager
    async def slow_guard() -> AsyncIterator[None]:
        first_flush_started.set()
        await asyncio.sleep(0.2)  # a slow commit: more records arrive meanwhile
        yield

    writer = UsageWriter(sessions, folder / "journal", flush_interval=0.01, write_guard=slow_guard)
    writer.finish(_entry(0))
    await first_flush_started.wait()
    for index in range(1, 6):
        writer.finish(_entry(index))  # queued while the first flush is still committing
    await asyncio.sleep(1.0)  # no further requests: the writer must flush these by itself
    async with sessions() as session:
        count = int(await session.scalar(select(func.count()).select_from(UsageRecord)) or 0)
    await writer.close()
    await engine.dispose()
    return count


def test_records_queued_during_a_flush_are_written_without_a_new_request(tmp_path: Path) -> None:
    assert asyncio.run(_scenario(tmp_path)) == 6
