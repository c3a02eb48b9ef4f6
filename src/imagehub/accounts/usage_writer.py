"""Usage records for requests that hold no money, written in batches and never lost.

A request whose key has no balance or budget needs no reservation, so writing its record can
leave the hot path: each record is appended to a local journal (one `write()`; it survives a
crash of the process) and inserted with others in one transaction every `flush_interval`.
The journal also holds a `begin` line per request in flight, so a crash mid-request still leaves
a record (`interrupted`). Segments left by a dead process are replayed into the database by any
process; inserts are idempotent on the request id, so replaying twice is harmless.

Each writer holds an exclusive `flock` on its own lock file for as long as it lives. The kernel
drops that lock when the process dies, however it dies, so a replayer that can take the lock knows
the owner is gone (a PID alone lies: a zombie or a reused PID looks alive), and holding the lock
while replaying keeps two replayers from racing. A dead owner's segments are merged before
anything is inserted: a request's finished record wins over its `begin` line in whatever file
either is, so the order of files (or of replays) never turns a delivered request into
"interrupted".
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
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
        self._lock_fd = _hold_owner_lock(self._dir / f"{self._prefix}.lock")  # before any segment
        self._sequence = 0
        self._fd = self._open_segment()
        self._batch: list[dict[str, Any]] = []
        self._open: dict[str, int] = {}  # request id -> the segment holding its begin line
        self._begun: dict[int, int] = {}  # segment -> begin lines in it still in flight
        self._unflushed: set[int] = set()  # segments holding end records not yet inserted
        self._inserted: set[int] = set()  # segments whose end records are in the database
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
        os.write(self._fd, orjson.dumps({"op": "begin", **entry}) + b"\n")
        self._open[entry["request_id"]] = self._sequence
        self._begun[self._sequence] = self._begun.get(self._sequence, 0) + 1

    def finish(self, entry: dict[str, Any]) -> None:
        """Journal the final record and queue it for the next batch insert."""
        os.write(self._fd, orjson.dumps({"op": "end", **entry}) + b"\n")
        self._unflushed.add(self._sequence)
        segment = self._open.pop(entry["request_id"], None)
        if segment is not None:
            self._begun[segment] -= 1
            self._drop_if_done(segment)
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
        """Insert the queued records in one transaction, then drop the segments nothing needs.

        A segment goes once its end records are inserted and none of its begin lines is still in
        flight; those requests' ends are in later segments. Begin lines are never copied
        forward, so a flush costs the same with ten requests in flight or ten thousand; a
        replay merges all of a dead writer's segments, so a kept begin line loses to its end.
        """
        async with self._flush_lock:
            if not self._batch:
                return
            batch, self._batch = self._batch, []
            segments, self._unflushed = self._unflushed, set()
            old_fd = self._fd
            self._sequence += 1
            self._fd = self._open_segment()
            os.close(old_fd)
            try:
                await insert_records(self._sessions, [_to_row(entry) for entry in batch], self._guard)
            except BaseException:
                # The segments stay: the next flush retries, and a replay recovers them if we die.
                self._batch = batch + self._batch
                self._unflushed |= segments
                raise
            self._inserted |= segments
            for sequence in sorted(self._inserted):
                self._drop_if_done(sequence)

    def _drop_if_done(self, sequence: int) -> None:
        if sequence in self._inserted and not self._begun.get(sequence):
            self._inserted.discard(sequence)
            self._begun.pop(sequence, None)
            with contextlib.suppress(FileNotFoundError):
                self._segment_path(sequence).unlink()

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
        if not any(self._dir.glob(f"{self._prefix}-*.jsonl")):
            with contextlib.suppress(FileNotFoundError):
                (self._dir / f"{self._prefix}.lock").unlink()
        os.close(self._lock_fd)  # what is left is now a dead owner's, for any process to replay

    async def replay_orphans(self, min_age_seconds: float = 30.0) -> int:
        """Insert what dead processes journaled but never flushed; returns records recovered.

        `min_age_seconds` applies only to journals without a lock file (older hubs), whose owner
        can only be guessed from its PID.
        """
        owners: dict[str, list[Path]] = {}
        for path in self._dir.glob("usage-*.jsonl"):
            prefix = path.name.rsplit("-", 1)[0]
            if prefix != self._prefix:
                owners.setdefault(prefix, []).append(path)
        for lock in self._dir.glob("usage-*.lock"):  # a dead owner that left no segments
            if lock.stem != self._prefix and lock.stem not in owners:
                with _dead_owner(lock, [], min_age_seconds):
                    pass
        recovered = 0
        for prefix, paths in sorted(owners.items()):
            with _dead_owner(self._dir / f"{prefix}.lock", paths, min_age_seconds) as dead:
                if not dead:
                    continue
                rows = [_to_row(entry) for entry in merge_journal(paths)]
                if rows:
                    await insert_records(self._sessions, rows, self._guard, correct_interrupted=True)
                for path in paths:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                recovered += len(rows)
        return recovered


def merge_journal(paths: list[Path]) -> list[dict[str, Any]]:
    """The latest state of every request across `paths`, in any order: `end` beats `begin`.

    A request still only begun is returned as `interrupted`: its process died before it finished.
    """
    entries: dict[str, dict[str, Any]] = {}
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            for line in path.read_bytes().splitlines():
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a line cut short by the crash
                known = entries.get(entry.get("request_id"))
                if known is None or (known.get("op") == "begin" and entry.get("op") == "end"):
                    entries[entry["request_id"]] = entry
    return [_interrupted(entry) if entry.get("op") == "begin" else entry for entry in entries.values()]


def _interrupted(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        **entry,
        "state": "interrupted",
        "error_code": "interrupted",
        "finished_at": datetime.now(UTC).isoformat(),
    }


def _hold_owner_lock(path: Path) -> int:
    """Create `path` already locked (made aside, then renamed), so no one sees it unlocked."""
    staging = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, f"{os.getpid()}\n".encode())
    os.rename(staging, path)
    return fd


@contextlib.contextmanager
def _dead_owner(lock: Path, paths: list[Path], min_age_seconds: float) -> Iterator[bool]:
    """Yield True, holding the owner's lock, if the owner of `paths` is dead; False if it lives."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        # No lock file: an older hub's journal (or one whose owner finished replaying it).
        newest = max((p.stat().st_mtime for p in paths if p.exists()), default=0.0)
        yield bool(paths) and time.time() - newest >= min_age_seconds and not _pid_alive(paths[0].name)
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False  # its owner (or another replayer) holds it
            return
        yield True
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
    finally:
        os.close(fd)


def _pid_alive(name: str) -> bool:
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
    sessions: async_sessionmaker[AsyncSession],
    rows: list[dict[str, Any]],
    guard: WriteGuard = _no_guard,
    *,
    correct_interrupted: bool = False,
) -> None:
    """Insert usage rows, skipping request ids already present (replays are idempotent).

    `correct_interrupted`: a row already written as `interrupted` takes the finished record
    instead (an older hub's replay may have inserted a request's `begin` line first).
    """
    table = UsageRecord.metadata.tables["usage_records"]
    async with guard(), sessions.begin() as session:
        dialect = session.get_bind().dialect.name
        insert = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
        if correct_interrupted:
            columns = [name for name in rows[0] if name != "request_id"]
            statement = insert.on_conflict_do_update(
                index_elements=["request_id"],
                set_={name: insert.excluded[name] for name in columns},
                where=(table.c.state == "interrupted") & (insert.excluded.state != "interrupted"),
            )
        else:
            statement = insert.on_conflict_do_nothing(index_elements=["request_id"])
        # A Core executemany: the ORM's bulk path costs several times more CPU per row.
        await session.execute(statement, rows)
