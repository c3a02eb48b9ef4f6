"""Idempotency-Key: a retried request returns the original response, with no second charge.

The first request with a key claims it (a row `in_progress`); the response is stored when it
succeeds. A retry with the same key and body within 24 h gets the stored response; the same key
with a different body is a 409, and so is a retry while the original is still running. A failed
request frees its key, so the client can retry it for real.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagehub.accounts.models import IdempotentResponse
from imagehub.errors import HubError

TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255


class IdempotencyConflict(HubError):
    status = 409
    type = "invalid_request_error"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    headers: dict[str, str]
    body: bytes


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class IdempotencyStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim(self, key_id: str, idempotency_key: str, digest: str) -> StoredResponse | None:
        """Claim the key for a new request (None), or return the finished original response."""
        if not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH:
            raise HubError(
                f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters.",
                status=400,
                code="invalid_idempotency_key",
            )
        now = datetime.now(UTC)
        async with self._sessions.begin() as session:
            # Forget an expired claim under this key before trying to take it.
            await session.execute(
                delete(IdempotentResponse).where(
                    IdempotentResponse.key_id == key_id,
                    IdempotentResponse.idempotency_key == idempotency_key,
                    IdempotentResponse.created_at < now - TTL,
                )
            )
        try:
            async with self._sessions.begin() as session:
                session.add(
                    IdempotentResponse(
                        key_id=key_id,
                        idempotency_key=idempotency_key,
                        body_hash=digest,
                        state="in_progress",
                        created_at=now,
                    )
                )
            return None
        except IntegrityError:
            pass
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(IdempotentResponse).where(
                        IdempotentResponse.key_id == key_id,
                        IdempotentResponse.idempotency_key == idempotency_key,
                    )
                )
            ).scalar_one_or_none()
        if row is None:  # released between our insert and read: take it now
            return await self.claim(key_id, idempotency_key, digest)
        if row.body_hash != digest:
            raise IdempotencyConflict(
                "This Idempotency-Key was already used with a different request body.",
                code="idempotency_key_reused",
            )
        if row.state != "done" or row.body is None or row.status_code is None:
            raise IdempotencyConflict(
                "A request with this Idempotency-Key is still in progress; retry shortly.",
                code="idempotency_key_in_progress",
                headers={"Retry-After": "1"},
            )
        return StoredResponse(row.status_code, orjson.loads(row.headers or "{}"), row.body)

    async def complete(self, key_id: str, idempotency_key: str, response: StoredResponse) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(IdempotentResponse)
                .where(
                    IdempotentResponse.key_id == key_id, IdempotentResponse.idempotency_key == idempotency_key
                )
                .values(
                    state="done",
                    status_code=response.status_code,
                    headers=orjson.dumps(response.headers).decode(),
                    body=response.body,
                )
            )

    async def abandon(self, key_id: str, idempotency_key: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                delete(IdempotentResponse).where(
                    IdempotentResponse.key_id == key_id,
                    IdempotentResponse.idempotency_key == idempotency_key,
                    IdempotentResponse.state == "in_progress",
                )
            )

    async def purge_expired(self) -> int:
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(IdempotentResponse).where(IdempotentResponse.created_at < datetime.now(UTC) - TTL)
            )
        return int(getattr(result, "rowcount", 0) or 0)
