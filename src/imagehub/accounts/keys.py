"""API keys: random secrets shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from imagehub.accounts.models import ApiKey, CreditGrant

log = logging.getLogger("imagehub.keys")

Mode = Literal["live", "sandbox", "admin"]
_PREFIXES: dict[str, str] = {"live": "ih-live-", "sandbox": "ih-sbx-", "admin": "ih-admin-"}
LIMIT_FIELDS = (
    "balance_micros",
    "budget_micros",
    "budget_period",
    "allowed_models",
    "max_n",
    "rpm_limit",
    "concurrency_limit",
)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: str
    name: str
    prefix: str
    mode: str
    created_at: datetime
    revoked_at: datetime | None
    balance_micros: int | None = None
    budget_micros: int | None = None
    budget_period: str | None = None
    allowed_models: tuple[str, ...] | None = None
    max_n: int | None = None
    rpm_limit: int | None = None
    concurrency_limit: int | None = None
    last_used_at: datetime | None = None

    @property
    def sandbox(self) -> bool:
        return self.mode == "sandbox"

    @property
    def admin(self) -> bool:
        return self.mode == "admin"

    @classmethod
    def of(cls, row: ApiKey) -> KeyInfo:
        models = tuple(m for m in row.allowed_models.split(",") if m) if row.allowed_models else None
        return cls(
            row.id,
            row.name,
            row.prefix,
            row.mode,
            row.created_at,
            row.revoked_at,
            row.balance_micros,
            row.budget_micros,
            row.budget_period,
            models,
            row.max_n,
            row.rpm_limit,
            row.concurrency_limit,
            _aware(row.last_used_at),
        )

    def public(self) -> dict[str, object]:
        """The key as the admin API shows it: everything but the secret."""
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "mode": self.mode,
            "created_at": int(self.created_at.timestamp()),
            "revoked_at": int(self.revoked_at.timestamp()) if self.revoked_at else None,
            "balance_micros": self.balance_micros,
            "budget_micros": self.budget_micros,
            "budget_period": self.budget_period,
            "allowed_models": list(self.allowed_models or []) or None,
            "max_n": self.max_n,
            "rpm_limit": self.rpm_limit,
            "concurrency_limit": self.concurrency_limit,
            "last_used_at": int(self.last_used_at.timestamp()) if self.last_used_at else None,
        }


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands timezone-aware columns back naive; they were written in UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_PREFIX_TUPLE = tuple(_PREFIXES.values())


def looks_like_key(secret: str) -> bool:
    return 20 < len(secret) < 200 and secret.startswith(_PREFIX_TUPLE)


class KeyStore:
    """Keys in the database, with a short-lived cache of successful lookups.

    Every request authenticates, so a database round trip per request is the largest fixed cost
    a hub could add. Cached entries live `cache_seconds` (default 1 s): a revoked key or a
    changed limit takes effect within that, in every process.
    """

    TOUCH_EVERY = timedelta(minutes=1)  # last_used_at granularity: at most one write a minute per key

    def __init__(
        self, sessions: async_sessionmaker[Any], cache_seconds: float = 1.0, cache_size: int = 10_000
    ) -> None:
        self._sessions = sessions
        self._cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._cache: dict[str, tuple[float, KeyInfo]] = {}
        self._inflight: dict[str, asyncio.Future[KeyInfo | None]] = {}
        self._touching: set[asyncio.Task[None]] = set()

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

    async def get(self, key_id: str) -> KeyInfo | None:
        async with self._sessions() as session:
            row = await session.get(ApiKey, key_id)
        return KeyInfo.of(row) if row is not None else None

    async def update_limits(self, key_id: str, changes: dict[str, Any]) -> KeyInfo | None:
        """Set (or clear, with None) any of LIMIT_FIELDS; returns the updated key."""
        values = {name: changes[name] for name in LIMIT_FIELDS if name in changes}
        if "allowed_models" in values and values["allowed_models"] is not None:
            values["allowed_models"] = ",".join(values["allowed_models"])
        async with self._sessions.begin() as session:
            if values:
                await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(**values))
            row = await session.get(ApiKey, key_id)
        self.forget(key_id)
        return KeyInfo.of(row) if row is not None else None

    async def top_up(self, key_id: str, amount_micros: int, note: str | None = None) -> KeyInfo | None:
        """Add credits (a key with no balance starts from zero) and record the grant."""
        async with self._sessions.begin() as session:
            changed = await session.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id)
                .values(balance_micros=func.coalesce(ApiKey.balance_micros, 0) + amount_micros)
            )
            if not changed.rowcount:
                return None
            session.add(
                CreditGrant(
                    key_id=key_id, amount_micros=amount_micros, note=note, created_at=datetime.now(UTC)
                )
            )
            row = await session.get(ApiKey, key_id)
        self.forget(key_id)
        return KeyInfo.of(row) if row is not None else None

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
        self.forget(key_id)
        return bool(result.rowcount)

    async def authenticate(self, secret: str) -> KeyInfo | None:
        """The active key for this secret, or None. Compared in constant time after lookup."""
        if not looks_like_key(secret):
            return None
        digest = hash_secret(secret)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        # One lookup per key at a time: when an entry expires under load, the requests that
        # arrive meanwhile wait for that lookup instead of each querying the database.
        pending = self._inflight.get(digest)
        if pending is None:
            pending = asyncio.ensure_future(self._lookup(digest))
            self._inflight[digest] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(digest, None))
        key = await asyncio.shield(pending)
        if key is not None:
            if len(self._cache) >= self._cache_size:
                self._cache.clear()  # simple and bounded; refills at one query per active key
            self._cache[digest] = (now + self._cache_seconds, key)
        else:
            self._cache.pop(digest, None)
        return key

    def forget(self, key_id: str) -> None:
        """Drop a changed key from this process's cache; other processes follow within cache_seconds."""
        for digest in [d for d, (_, key) in self._cache.items() if key.id == key_id]:
            self._cache.pop(digest, None)

    async def _lookup(self, digest: str) -> KeyInfo | None:
        async with self._sessions() as session:
            row = await session.scalar(select(ApiKey).where(ApiKey.secret_hash == digest))
        if row is None or not hmac.compare_digest(row.secret_hash, digest) or row.revoked_at is not None:
            return None
        key = KeyInfo.of(row)
        now = datetime.now(UTC)
        if key.last_used_at is None or now - key.last_used_at >= self.TOUCH_EVERY:
            # Off the request's path: a slow or failed write must not delay or fail the request.
            task = asyncio.ensure_future(self._touch(key.id, now))
            self._touching.add(task)
            task.add_done_callback(self._touching.discard)
        return key

    async def _touch(self, key_id: str, now: datetime) -> None:
        try:
            async with self._sessions.begin() as session:
                await session.execute(
                    update(ApiKey)
                    .where(ApiKey.id == key_id)
                    .where((ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < now - self.TOUCH_EVERY))
                    .values(last_used_at=now)
                )
        except Exception as exc:  # best effort: the next lookup tries again
            log.debug("could not record last use of %s: %r", key_id, exc)
