"""API keys: random secrets shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from imagehub.accounts.models import ApiKey

Mode = Literal["live", "sandbox"]
_PREFIXES: dict[str, str] = {"live": "ih-live-", "sandbox": "ih-sbx-"}


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: str
    name: str
    prefix: str
    mode: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def sandbox(self) -> bool:
        return self.mode == "sandbox"

    @classmethod
    def of(cls, row: ApiKey) -> KeyInfo:
        return cls(row.id, row.name, row.prefix, row.mode, row.created_at, row.revoked_at)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_key(secret: str) -> bool:
    return secret.startswith(tuple(_PREFIXES.values())) and 20 < len(secret) < 200


class KeyStore:
    def __init__(self, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions

    async def create(self, name: str, mode: Mode) -> tuple[KeyInfo, str]:
        """Return the stored key and its secret; the secret is never retrievable again."""
        secret = _PREFIXES[mode] + secrets.token_urlsafe(32)
        row = ApiKey(
            id="key_" + secrets.token_hex(8),
            name=name,
            prefix=secret[: len(_PREFIXES[mode]) + 6],
            secret_hash=hash_secret(secret),
            mode=mode,
            created_at=datetime.now(UTC),
        )
        async with self._sessions.begin() as session:
            session.add(row)
        return KeyInfo.of(row), secret

    async def list(self) -> list[KeyInfo]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(ApiKey).order_by(ApiKey.created_at))).all()
        return [KeyInfo.of(row) for row in rows]

    async def count(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(ApiKey)) or 0)

    async def revoke(self, key_id: str) -> bool:
        """Mark a key revoked; False if no such key or it was revoked already."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        return bool(result.rowcount)

    async def authenticate(self, secret: str) -> KeyInfo | None:
        """The active key for this secret, or None. Compared in constant time after lookup."""
        if not looks_like_key(secret):
            return None
        digest = hash_secret(secret)
        async with self._sessions() as session:
            row = await session.scalar(select(ApiKey).where(ApiKey.secret_hash == digest))
        if row is None or not hmac.compare_digest(row.secret_hash, digest) or row.revoked_at is not None:
            return None
        return KeyInfo.of(row)
