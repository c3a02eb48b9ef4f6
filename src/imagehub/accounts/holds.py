"""Taking money from a key's balance and budget, and giving it back, inside a ledger transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from imagehub.accounts.models import ApiKey, BudgetUsage
from imagehub.errors import HubError


class InsufficientQuota(HubError):
    status = 402
    type = "insufficient_quota"


def budget_period_start(period: str, now: datetime) -> str:
    return now.strftime("%Y-%m-%d") if period == "day" else now.strftime("%Y-%m")


async def hold(session: AsyncSession, key_id: str, amount: int, now: datetime) -> tuple[bool, str | None]:
    """Take `amount` from whichever of balance and budget the key has; say which were taken."""
    limits = (
        await session.execute(
            select(ApiKey.balance_micros, ApiKey.budget_micros, ApiKey.budget_period)
            .where(ApiKey.id == key_id)
            .with_for_update()
        )
    ).one()
    balance, budget, period_kind = limits
    if balance is not None:
        taken = await session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.balance_micros >= amount)
            .values(balance_micros=ApiKey.balance_micros - amount)
        )
        if not rowcount(taken):
            raise InsufficientQuota(
                f"This key's credit balance ({_usd(balance)}) does not cover this request "
                f"(up to {_usd(amount)}). Ask the operator to top it up.",
                code="insufficient_quota",
            )
    if budget is None or period_kind is None:
        return balance is not None, None
    period = budget_period_start(period_kind, now)
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(BudgetUsage)
        .values(key_id=key_id, period_start=period, spent_micros=0)
        .on_conflict_do_nothing()
    )
    taken = await session.execute(
        update(BudgetUsage)
        .where(
            BudgetUsage.key_id == key_id,
            BudgetUsage.period_start == period,
            BudgetUsage.spent_micros + amount <= budget,
        )
        .values(spent_micros=BudgetUsage.spent_micros + amount)
    )
    if not rowcount(taken):
        span = "daily" if period_kind == "day" else "monthly"
        raise InsufficientQuota(
            f"This key's {span} budget of {_usd(budget)} would be exceeded by this request "
            f"(up to {_usd(amount)}).",
            code="budget_exceeded",
        )
    return balance is not None, period


async def refund(
    session: AsyncSession, key_id: str, amount: int, balance_held: bool, period: str | None
) -> None:
    if amount <= 0:
        return
    if balance_held:
        await session.execute(
            update(ApiKey).where(ApiKey.id == key_id).values(balance_micros=ApiKey.balance_micros + amount)
        )
    if period is not None:
        await session.execute(
            update(BudgetUsage)
            .where(BudgetUsage.key_id == key_id, BudgetUsage.period_start == period)
            .values(spent_micros=BudgetUsage.spent_micros - amount)
        )


def rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _usd(micros: int) -> str:
    return f"${micros / 1_000_000:,.6f}".rstrip("0").rstrip(".")
