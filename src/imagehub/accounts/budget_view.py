"""How much of its budget a key has used in the current period: read-only, for dashboards."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagehub.accounts.keys import KeyInfo
from imagehub.accounts.ledger import budget_period_start
from imagehub.accounts.models import BudgetUsage


async def budget_spent(sessions: async_sessionmaker[AsyncSession], key: KeyInfo) -> dict[str, Any] | None:
    """Spent (and held in reservations) this period, or None for a key without a budget."""
    if key.budget_micros is None or key.budget_period is None:
        return None
    period = budget_period_start(key.budget_period, datetime.now(UTC))
    async with sessions() as session:
        spent = await session.scalar(
            select(BudgetUsage.spent_micros).where(
                BudgetUsage.key_id == key.id, BudgetUsage.period_start == period
            )
        )
    return {"period": period, "spent_micros": int(spent or 0), "budget_micros": key.budget_micros}
