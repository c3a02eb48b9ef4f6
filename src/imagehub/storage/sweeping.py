"""One sweeper at a time for a store that several hubs share.

Every hub runs the maintenance loop, but only the one holding the sweep lock deletes from a
shared bucket; the others skip that round. Deleting only what expired over a minute ago already
keeps a sweep from removing what another hub still serves; the lock keeps N hubs from listing
and deleting the same objects N times over.

- PostgreSQL (the multi-hub topology): a transaction-scoped advisory lock, held for the sweep.
  If the sweeping hub dies, its connection closes and the lock goes with it.
- SQLite (hubs on one machine): an exclusive `flock` on a file in the data directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from imagehub.storage.base import ImageStore

#: The advisory lock's key: any fixed 64-bit number that nothing else in the database uses.
SWEEP_LOCK_KEY = 0x696D616765687562  # "imagehub"


class SweepLock(Protocol):
    def hold(self) -> contextlib.AbstractAsyncContextManager[bool]:
        """Try to take the lock without waiting; yields whether this process holds it."""
        ...


class PostgresSweepLock:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        async with self.engine.connect() as connection, connection.begin():
            held = await connection.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SWEEP_LOCK_KEY}
            )
            yield bool(held)


class FileSweepLock:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # closing releases the flock


def sweep_lock_for(engine: AsyncEngine, lock_file: Path) -> SweepLock:
    if engine.dialect.name == "postgresql":
        return PostgresSweepLock(engine)
    return FileSweepLock(lock_file)


async def sweep_expired(store: ImageStore, lock: SweepLock) -> int | None:
    """Sweep now; None when another hub holds the lock of a shared store (it sweeps instead)."""
    if not store.shared:
        return await store.sweep()
    async with lock.hold() as held:
        if not held:
            return None
        return await store.sweep()
