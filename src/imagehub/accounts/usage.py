"""Usage reports: sums over usage records by key, model or day, for a time range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import String, and_, case, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagehub.accounts.models import UsageRecord

GroupBy = Literal["key", "model", "day", "status"]
GROUPS: tuple[GroupBy, ...] = ("key", "model", "day", "status")


@dataclass(frozen=True, slots=True)
class UsageQuery:
    start: datetime
    end: datetime
    group_by: tuple[GroupBy, ...] = ("key", "model")
    key_id: str | None = None  # restrict to one key (a client's own records)


def _day(dialect: str) -> Any:
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", UsageRecord.created_at), "YYYY-MM-DD")
    return func.substr(cast(UsageRecord.created_at, String), 1, 10)


async def usage_report(sessions: async_sessionmaker[AsyncSession], query: UsageQuery) -> list[dict[str, Any]]:
    """One row per group: requests, images asked and delivered, cost, errors, mean latency."""
    async with sessions() as session:
        columns = {
            "key": UsageRecord.key_id,
            "model": UsageRecord.model,
            "day": _day(session.get_bind().dialect.name),
            "status": UsageRecord.status_code,  # HTTP status the request ended with
        }
        keys = [columns[name].label("key_id" if name == "key" else name) for name in query.group_by]
        statement = (
            select(
                *keys,
                func.count().label("requests"),
                func.coalesce(func.sum(UsageRecord.n_requested), 0).label("images_requested"),
                func.coalesce(func.sum(UsageRecord.n_delivered), 0).label("images_delivered"),
                func.coalesce(func.sum(UsageRecord.price_micros), 0).label("cost_micros"),
                func.coalesce(func.sum(case((UsageRecord.status_code >= 400, 1), else_=0)), 0).label(
                    "errors"
                ),
                func.avg(UsageRecord.latency_ms).label("mean_latency_ms"),
            )
            .where(UsageRecord.created_at >= query.start, UsageRecord.created_at < query.end)
            .group_by(*keys)
            .order_by(*keys)
        )
        if query.key_id is not None:
            statement = statement.where(UsageRecord.key_id == query.key_id)
        rows = (await session.execute(statement)).mappings().all()
    report = []
    for row in rows:
        entry = dict(row)
        latency = entry.pop("mean_latency_ms")
        for name in ("requests", "images_requested", "images_delivered", "cost_micros", "errors"):
            entry[name] = int(entry[name] or 0)
        entry["cost_usd"] = entry["cost_micros"] / 1_000_000
        entry["mean_latency_ms"] = round(float(latency), 1) if latency is not None else None
        report.append(entry)
    return report


RECORD_FIELDS = (
    "request_id",
    "key_id",
    "state",
    "model",
    "provider",
    "size",
    "quality",
    "n_requested",
    "n_delivered",
    "reserved_micros",
    "price_micros",
    "status_code",
    "error_code",
    "latency_ms",
    "client_did",
)


async def usage_records(
    sessions: async_sessionmaker[AsyncSession], query: UsageQuery, limit: int = 100, after: str | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """One page of the newest individual records in the range, and whether more follow.

    Newest first, ties on the timestamp broken by request id, so `after` (the last request id of
    the previous page) continues exactly where that page ended, however many share a second.
    An `after` that names no record in the range gives an empty page.
    """
    statement = select(UsageRecord).where(
        UsageRecord.created_at >= query.start, UsageRecord.created_at < query.end
    )
    if query.key_id is not None:
        statement = statement.where(UsageRecord.key_id == query.key_id)
    async with sessions() as session:
        if after is not None:
            cursor = (
                await session.execute(select(UsageRecord.created_at).where(UsageRecord.request_id == after))
            ).scalar_one_or_none()
            if cursor is None:
                return [], False
            statement = statement.where(
                or_(
                    UsageRecord.created_at < cursor,
                    and_(UsageRecord.created_at == cursor, UsageRecord.request_id < after),
                )
            )
        statement = statement.order_by(UsageRecord.created_at.desc(), UsageRecord.request_id.desc()).limit(
            limit + 1
        )
        rows = (await session.execute(statement)).scalars().all()
    page = [
        {
            **{name: getattr(row, name) for name in RECORD_FIELDS},
            "created_at": int(row.created_at.timestamp()),
        }
        for row in rows[:limit]
    ]
    return page, len(rows) > limit
