"""ORM tables. Schema changes go through Alembic migrations in accounts/migrations.

Money is always integer micro-units (1 USD = 1,000,000), never float.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # First characters of the secret, safe to show so people can tell their keys apart.
    prefix: Mapped[str] = mapped_column(String(32))
    # SHA-256 of the whole secret. Keys are 256-bit random, so a fast hash is the right one.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    mode: Mapped[str] = mapped_column(String(16))  # "live", "sandbox" or "admin"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Refreshed at most once a minute per key and process (KeyStore), so a request rarely writes it.
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Limits; NULL means "no limit".
    balance_micros: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    budget_micros: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    budget_period: Mapped[str | None] = mapped_column(String(8), nullable=True)  # "day" | "month"
    allowed_models: Mapped[str | None] = mapped_column(Text, nullable=True)  # comma-separated
    max_n: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rpm_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    concurrency_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)


class BudgetUsage(Base):
    """What a key has spent (or holds in reservations) in one budget period."""

    __tablename__ = "budget_usage"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    period_start: Mapped[str] = mapped_column(String(10), primary_key=True)  # "2026-11-24" or "2026-11"
    spent_micros: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageRecord(Base):
    """One row per generation request: first a reservation (`pending`), then its outcome.

    The reservation is written before any upstream call, so a crash at any point leaves a row that
    recovery can settle: nothing is lost and nothing is charged twice.
    """

    __tablename__ = "usage_records"

    request_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32))
    # pending | settled | released | interrupted | rejected | replayed | cancelled (never ran)
    state: Mapped[str] = mapped_column(String(12))
    model: Mapped[str] = mapped_column(String(100))  # the model that served it
    # The name the client sent, where another model served it (a retired name's successor).
    requested_model: Mapped[str | None] = mapped_column(String(100), nullable=True)
    provider: Mapped[str | None] = mapped_column(String(100), nullable=True)
    size: Mapped[str | None] = mapped_column(String(20), nullable=True)
    quality: Mapped[str | None] = mapped_column(String(20), nullable=True)
    n_requested: Mapped[int] = mapped_column(Integer)
    n_delivered: Mapped[int] = mapped_column(Integer, default=0)
    reserved_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    price_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    budget_period: Mapped[str | None] = mapped_column(String(10), nullable=True)  # budget held in
    balance_held: Mapped[bool] = mapped_column(Boolean, default=False)  # reserved from the balance
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    latency_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    client_did: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # A job's: the lease token of the run that may settle or release it (migration 0006).
    fence: Mapped[str | None] = mapped_column(String(32), nullable=True)

    __table_args__ = (
        Index("ix_usage_key_created", "key_id", "created_at"),
        Index("ix_usage_created", "created_at"),
        Index("ix_usage_state", "state"),
    )


class CreditGrant(Base):
    """Every top-up, so a balance can always be explained."""

    __tablename__ = "credit_grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    amount_micros: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IdempotentResponse(Base):
    """A finished response kept for 24 h under the client's Idempotency-Key."""

    __tablename__ = "idempotency"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    body_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12))  # in_progress | done
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    headers: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON object
    body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
