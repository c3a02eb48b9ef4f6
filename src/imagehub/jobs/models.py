"""The `image_jobs` table (migration 0004). Times are Unix milliseconds (see the migration)."""

from __future__ import annotations

import secrets
import time

from sqlalchemy import BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from imagehub.accounts.ledger import DURABLE_PREFIX
from imagehub.accounts.models import Base

QUEUED = "queued"
IN_PROGRESS = "in_progress"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})

#: Interactive jobs run before batch lines: claims order by priority first.
INTERACTIVE = 0
BATCH = 10


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_job_id() -> str:
    """`job_` + ms time + random: sortable like request ids, and the job's usage record id too.

    The prefix is the ledger's DURABLE_PREFIX, which keeps crash recovery off the reservation.
    """
    return f"{DURABLE_PREFIX}{now_ms():012x}{secrets.token_hex(8)}"


class ImageJobRow(Base):
    __tablename__ = "image_jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32))
    operation: Mapped[str] = mapped_column(String(16))  # generate | edit | variation
    status: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(100))
    size: Mapped[str | None] = mapped_column(String(32), nullable=True)
    request: Mapped[str] = mapped_column(Text)  # JSON (see jobs/requests.py)
    priority: Mapped[int] = mapped_column(Integer, default=INTERACTIVE)
    batch_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    custom_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    notified: Mapped[bool] = mapped_column(Boolean, default=False)  # its end went to the listeners
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)  # new at each claim
    price_micros: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)  # ImagesResponse, URLs relative
    error: Mapped[str | None] = mapped_column(Text, nullable=True)  # {"code", "message", ...}
    created_at: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    finished_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
