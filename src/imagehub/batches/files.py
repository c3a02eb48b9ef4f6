"""The Files API's storage: uploads (purpose "batch", or images with purpose "vision" that edits
name by file id) and the output and error files batches write.

Kept in the database, as everything a batch needs is, so any hub of a cluster serves any file.
Input files are capped by the hub's upload limit; image bytes never go into files (a batch's
output holds what a synchronous answer holds: URLs, or base64 when a line asked for it).
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagehub.accounts.holds import rowcount
from imagehub.batches.models import BatchFileRow, new_id
from imagehub.jobs.models import now_ms

#: Uploaded input files stay this long unless deleted (or swept with their batch).
INPUT_RETENTION_MS = 30 * 86_400_000

#: Purposes of uploaded images, which edits (synchronous or batch lines) name by `file_id`.
IMAGE_PURPOSES = ("vision", "user_data")
UPLOAD_PURPOSES = ("batch", *IMAGE_PURPOSES)


class FileStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    def new(
        self, key_id: str, purpose: str, filename: str, content: bytes, expires_at: int | None
    ) -> BatchFileRow:
        return BatchFileRow(
            id=new_id("file-"),
            key_id=key_id,
            purpose=purpose,
            filename=filename[:255],
            content=content,
            created_at=now_ms(),
            expires_at=expires_at,
        )

    async def create(self, key_id: str, purpose: str, filename: str, content: bytes) -> BatchFileRow:
        row = self.new(key_id, purpose, filename, content, now_ms() + INPUT_RETENTION_MS)
        async with self._sessions.begin() as session:
            session.add(row)
        return row

    async def get(self, file_id: str, key_id: str) -> BatchFileRow | None:
        async with self._sessions() as session:
            row = await session.get(BatchFileRow, file_id)
        return row if row is not None and row.key_id == key_id else None

    async def images(self, file_ids: set[str], key_id: str) -> dict[str, bytes]:
        """The key's own uploaded images among `file_ids`, by id (others are simply absent)."""
        if not file_ids:
            return {}
        query = select(BatchFileRow.id, BatchFileRow.content).where(
            BatchFileRow.id.in_(file_ids),
            BatchFileRow.key_id == key_id,
            BatchFileRow.purpose.in_(IMAGE_PURPOSES),
        )
        async with self._sessions() as session:
            return {file_id: content for file_id, content in (await session.execute(query)).all()}

    async def page(self, key_id: str, *, after: str | None, limit: int) -> list[BatchFileRow]:
        query = select(BatchFileRow).where(BatchFileRow.key_id == key_id)
        if after:
            query = query.where(BatchFileRow.id < after)
        async with self._sessions() as session:
            return list(
                (await session.execute(query.order_by(BatchFileRow.id.desc()).limit(limit))).scalars()
            )

    async def remove(self, file_id: str, key_id: str) -> bool:
        async with self._sessions.begin() as session:
            gone = await session.execute(
                delete(BatchFileRow).where(BatchFileRow.id == file_id, BatchFileRow.key_id == key_id)
            )
        return bool(rowcount(gone))

    async def sweep(self) -> int:
        async with self._sessions.begin() as session:
            gone = await session.execute(delete(BatchFileRow).where(BatchFileRow.expires_at < now_ms()))
        return rowcount(gone)
