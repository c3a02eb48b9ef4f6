"""The batch tables (migration 0004). Times are Unix milliseconds."""

from __future__ import annotations

import secrets

from sqlalchemy import BigInteger, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from imagehub.accounts.models import Base
from imagehub.jobs.models import now_ms

VALIDATING = "validating"
IN_PROGRESS = "in_progress"
FINALIZING = "finalizing"
COMPLETED = "completed"
CANCELLING = "cancelling"
CANCELLED = "cancelled"
EXPIRED = "expired"
ENDED = frozenset({COMPLETED, CANCELLED, EXPIRED})

WINDOWS = {"24h": 86_400_000}


def new_id(prefix: str) -> str:
    return f"{prefix}{now_ms():012x}{secrets.token_hex(8)}"


class BatchFileRow(Base):
    __tablename__ = "batch_files"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(32))  # batch | batch_output
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class BatchRow(Base):
    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32))
    endpoint: Mapped[str] = mapped_column(String(64))
    input_file_id: Mapped[str] = mapped_column(String(40))
    output_file_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    error_file_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    completion_window: Mapped[str] = mapped_column(String(8))
    metadata_json: Mapped[str | None] = mapped_column("metadata", Text, nullable=True)
    invalid_lines: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSONL of error lines
    base_url: Mapped[str] = mapped_column(Text, default="")  # for the output file's image URLs
    total: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[int] = mapped_column(BigInteger)
    in_progress_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    finalizing_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    completed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cancelling_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cancelled_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    expires_at: Mapped[int] = mapped_column(BigInteger)
