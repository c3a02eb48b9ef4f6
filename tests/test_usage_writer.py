"""The usage writer's batching: nothing waits for a later request to be written."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
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


def _line(op: str, index: int, state: str) -> bytes:
    return orjson.dumps({"op": op, **{**_entry(index), "state": state}}) + b"\n"


async def _replay(folder: Path) -> dict[str, str]:
    engine = create_engine(f"sqlite+aiosqlite:///{folder}/u.db")
    await migrate(engine)
    sessions = sessionmaker(engine)
    writer = UsageWriter(sessions, folder / "journal")
    await writer.replay_orphans(min_age_seconds=0)
    async with sessions() as session:
        rows = (await session.execute(select(UsageRecord.request_id, UsageRecord.state))).all()
    await writer.close()
    await engine.dispose()
    return {request_id: state for request_id, state in rows}


def _dead_journal(folder: Path, prefix: str, segments: list[bytes]) -> None:
    """Segments as a hub killed mid-flush leaves them, with an unlocked lock file (its owner is dead)."""
    journal = folder / "journal"
    journal.mkdir(parents=True, exist_ok=True)
    (journal / f"{prefix}.lock").write_text("1\n")
    for sequence, content in enumerate(segments):
        (journal / f"{prefix}-{sequence:08d}.jsonl").write_bytes(content)


def test_replay_lets_a_finished_record_win_over_an_older_files_begin_line(tmp_path: Path) -> None:
    # A request begun before a flush rotated the segment: its begin line is in the old segment
    # (kept, since the kill came before the flush finished) and copied to the new one, where it
    # also finished. Whatever order the files are read in, it was delivered.
    prefix = "usage-1-deadbeef"
    _dead_journal(
        tmp_path,
        prefix,
        [
            _line("begin", 1, "pending") + _line("end", 2, "settled"),
            _line("begin", 1, "pending") + _line("end", 1, "settled") + _line("begin", 3, "pending"),
        ],
    )
    assert asyncio.run(_replay(tmp_path)) == {"req_1": "settled", "req_2": "settled", "req_3": "interrupted"}
    assert not list((tmp_path / "journal").glob(f"{prefix}*"))


def test_replay_corrects_a_record_an_older_replay_wrote_as_interrupted(tmp_path: Path) -> None:
    prefix = "usage-1-cafecafe"
    _dead_journal(tmp_path, prefix, [_line("begin", 7, "pending")])
    assert asyncio.run(_replay(tmp_path)) == {"req_7": "interrupted"}
    _dead_journal(tmp_path, prefix, [b"", _line("end", 7, "settled")])
    assert asyncio.run(_replay(tmp_path)) == {"req_7": "settled"}


def test_a_journal_whose_pid_is_alive_is_replayed_once_its_lock_is_free(tmp_path: Path) -> None:
    # PID 1 (and our own parent) are alive: a PID check would keep this journal forever.
    prefix = f"usage-{os.getppid()}-0badf00d"
    _dead_journal(tmp_path, prefix, [_line("end", 5, "settled")])
    assert asyncio.run(_replay(tmp_path)) == {"req_5": "settled"}


def test_a_live_writers_journal_is_left_alone(tmp_path: Path) -> None:
    """Another process holds its lock: its in-flight begin lines must not become 'interrupted'."""
    journal = tmp_path / "journal"
    journal.mkdir()
    prefix = "usage-99999-1e1e1e1e"
    lock = journal / f"{prefix}.lock"
    lock.write_text("")
    (journal / f"{prefix}-00000000.jsonl").write_bytes(_line("begin", 9, "pending"))
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert asyncio.run(_replay(tmp_path)) == {}
    finally:
        holder.kill()
        holder.wait()
    assert asyncio.run(_replay(tmp_path)) == {"req_9": "interrupted"}  # dead now: replayed


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


async def _segments_scenario(folder: Path) -> list[int]:
    engine = create_engine(f"sqlite+aiosqlite:///{folder}/u.db")
    await migrate(engine)
    writer = UsageWriter(sessionmaker(engine), folder / "journal", flush_interval=3600)
    journal = folder / "journal"
    counts = []
    for index in range(3):
        writer.begin(_entry(index))
    writer.finish(_entry(0))
    await writer.flush()  # two begins still in flight: their segment must stay
    counts.append(len(list(journal.glob("usage-*.jsonl"))))
    writer.finish(_entry(1))
    writer.finish(_entry(2))
    await writer.flush()  # every begin finished and every end inserted: only the open segment is left
    counts.append(len(list(journal.glob("usage-*.jsonl"))))
    await writer.close()
    counts.append(len(list(journal.glob("usage-*"))))
    await engine.dispose()
    return counts


def test_a_segment_stays_while_its_requests_are_in_flight_and_goes_after(tmp_path: Path) -> None:
    # Begin lines are not copied into each new segment (that cost O(requests in flight) per flush).
    assert asyncio.run(_segments_scenario(tmp_path)) == [2, 1, 0]
