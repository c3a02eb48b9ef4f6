"""ORM tables. Schema changes go through Alembic migrations in accounts/migrations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
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
    mode: Mapped[str] = mapped_column(String(16))  # "live" or "sandbox"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
