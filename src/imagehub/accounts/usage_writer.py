"""Usage records for requests that hold no money, written in batches and never lost.

A request whose key has no balance or budget needs no reservation, so writing its record can
leave the hot path: each record is appended to a local journal (one `write()`; it survives a
crash of the process) and inserted with others in one transaction every `flush_interval`.
The journal also holds a `begin` line per request in flight, so a crash mid-request still leaves
a record (`interrupted`). Segments left by a dead process are replayed into the database by any
process; inserts are idempotent on the request id, so replaying twice is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagehub.accounts.models import UsageRecord

log = logging.getLogger("imagehub.usage")

WriteGuard = Callable[[], contextlib.AbstractAsyncContextManager[None]]


def _to_row(entry: dict[str, Any]) -> dict[str, Any]:
    row = {key: value for key, value in entry.items() if key not in ("op",)}
    for name in ("created_at", "finished_at"):
        if isinstance(row.get(name), str):
            row[name] = datetime.fromisoformat(row[name])
    return row


class UsageWriter:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        journal_dir: Path,
        *,
        flush_interval: float = 0.05,
        max_batch: int = 500,
        write_guard: WriteGuard | None = None,
    ) -> None:
        self._sessions = sessions
        self._dir = journal_dir
        self._dir.mkdir(parents=True, exist_ok=True)
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._guard = write_guard or _no_guard
        self._prefix = f"usage-{os.getpid()}-{secrets.token_hex(4)}"
        self._sequence = 0
        self._fd = self._open_segment()
        self._batch: list[dict[str, Any]] = []
        self._open: dict[str, bytes] = {}  # request id -> its begin line, while in flight
        self._flusher: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()

    def set_write_guard(self, guard: WriteGuard) -> None:
        """Share the ledger's SQLite write lock, so batch inserts queue with reservations."""
        self._guard = guard

    def _segment_path(self, sequence: int) -> Path:
        return self._dir / f"{self._prefix}-{sequence:08d}.jsonl"

    def _open_segment(self) -> int:
        return os.open(self._segment_path(self._sequence), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def begin(self, entry: dict[str, Any]) -> None:
        """Journal a request that has started; until `finish`, a crash leaves it `interrupted`."""
        line = orjson.dumps({"op": "begin", **entry}) + b"\n"
        self._open[entry["request_id"]] = line
        os.write(self._fd, line)

    def finish(self, entry: dict[str, Any]) -> None:
        """Journal the final record and queue it for the next batch insert."""
        self._open.pop(entry["request_id"], None)
        os.write(self._fd, orjson.dumps({"op": "end", **entry}) + b"\n")
        self._batch.append(entry)
        if len(self._batch) >= self._max_batch:
            self._schedule(0)
        else:
            self._schedule(self._flush_interval)

    def _schedule(self, delay: float) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_after(delay))

    async def _flush_after(self, delay: float) -> None:
        """Flush until nothing is queued, including records that arrived during a flush."""
        if delay:
            await asyncio.sleep(delay)
        while self._batch:
            try:
                await self.flush()
            except Exception:
                # The journal still has every line; try again shortly (a replay also recovers them).
                log.exception("usage flush failed; records stay in the journal")
                await asyncio.sleep(1.0)

    async def flush(self) -> None:
        """Insert the queued records in one transaction, then drop the journal segment they were in."""
        async with self._flush_lock:
            if not self._batch:
                return
            batch, self._batch = self._batch, []
            old_fd, old_path = self._fd, self._segment_path(self._sequence)
            self._sequence += 1
            self._fd = self._open_segment()
            for line in self._open.values():  # requests still in flight move to the new segment
                os.write(self._fd, line)
            try:
                await insert_records(self._sessions, [_to_row(entry) for entry in batch], self._guard)
            except BaseException:
                self._batch = batch + self._batch
                os.close(old_fd)  # keep the old segment: a replay recovers it if we die
                raise
            os.close(old_fd)
            with contextlib.suppress(FileNotFoundError):
                old_path.unlink()

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._flusher
        with contextlib.suppress(Exception):
            await self.flush()
        os.close(self._fd)
        path = self._segment_path(self._sequence)
        if not self._open and path.exists() and path.stat().st_size == 0:
            path.unlink()

    async def replay_orphans(self, min_age_seconds: float = 30.0) -> int:
        """Insert what dead processes journaled but never flushed; returns records recovered."""
        recovered = 0
        now = time.time()
        for path in sorted(self._dir.glob("usage-*.jsonl")):
            if path.name.startswith(self._prefix) or now - path.stat().st_mtime < min_age_seconds:
                continue
            if _owner_alive(path.name):
                continue
            entries: dict[str, dict[str, Any]] = {}
            for line in path.read_bytes().splitlines():
                with contextlib.suppress(orjson.JSONDecodeError):
                    entry = orjson.loads(line)
                    entries[entry["request_id"]] = entry  # the last line per request wins
            rows = [
                _to_row(_interrupted(entry) if entry.get("op") == "begin" else entry)
                for entry in entries.values()
            ]
            if rows:
                await insert_records(self._sessions, rows, self._guard)
            path.unlink()
            recovered += len(rows)
        return recovered


def _interrupted(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        **entry,
        "state": "interrupted",
        "error_code": "interrupted",
        "finished_at": datetime.now(UTC).isoformat(),
    }


def _owner_alive(name: str) -> bool:
    try:
        pid = int(name.split("-")[1])
    except (IndexError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != os.getpid()


@contextlib.asynccontextmanager
async def _no_guard() -> AsyncIterator[None]:
    yield


async def insert_records(
    sessions: async_sessionmaker[AsyncSession], rows: list[dict[str, Any]], guard: WriteGuard = _no_guard
) -> None:
    """Insert usage rows, skipping request ids already present (replays are idempotent)."""
    table = UsageRecord.metadata.tables["usage_records"]
    async with guard(), sessions.begin() as session:
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        # A Core executemany: the ORM's bulk path costs several times more CPU per row.
        await session.execute(insert(table).on_conflict_do_nothing(index_elements=["request_id"]), rows)
