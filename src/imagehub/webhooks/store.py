"""Endpoints and deliveries in the database: register, list, remove; queue events; the log.

An event becomes one delivery row per subscribed endpoint, with its body fixed at that moment:
every retry sends (and signs) the very same bytes under the same `webhook-id`, so receivers can
deduplicate on it.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagehub.accounts.holds import rowcount
from imagehub.webhooks.models import (
    EVENTS,
    PENDING,
    TEST_EVENT,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def _id(prefix: str) -> str:
    return f"{prefix}{now_ms():012x}{secrets.token_hex(8)}"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def event_body(event_type: str, data: dict[str, Any]) -> str:
    """The Standard Webhooks payload shape: type, timestamp, data."""
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return orjson.dumps({"type": event_type, "timestamp": stamp, "data": data}).decode()


def _deliveries(endpoint_ids: list[str], event_type: str, body: str) -> list[WebhookDeliveryRow]:
    now = now_ms()
    return [
        WebhookDeliveryRow(
            id=_id("msg_"),
            endpoint_id=endpoint_id,
            event_type=event_type,
            payload=body,
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        for endpoint_id in endpoint_ids
    ]


async def emit_in(session: AsyncSession, key_id: str, event_type: str, data: dict[str, Any]) -> int:
    """Queue `event_type` for the key's subscribed endpoints inside the caller's transaction.

    The outbox pattern: whatever the event announces (a batch's end) commits together with the
    event's deliveries, so a hub that dies right after can never leave one without the other.
    """
    query = select(WebhookEndpointRow).where(WebhookEndpointRow.key_id == key_id)
    targets = [
        row.id for row in (await session.execute(query)).scalars() if event_type in row.events.split(",")
    ]
    if targets:
        session.add_all(_deliveries(targets, event_type, event_body(event_type, data)))
    return len(targets)


class WebhookStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def register(self, key_id: str, url: str, events: list[str]) -> WebhookEndpointRow:
        row = WebhookEndpointRow(
            id=_id("we_"),
            key_id=key_id,
            url=url,
            secret=new_secret(),
            events=",".join(events or EVENTS),
            created_at=now_ms(),
        )
        async with self._sessions.begin() as session:
            session.add(row)
        return row

    async def endpoints(self, key_id: str) -> list[WebhookEndpointRow]:
        async with self._sessions() as session:
            query = select(WebhookEndpointRow).where(WebhookEndpointRow.key_id == key_id)
            return list((await session.execute(query.order_by(WebhookEndpointRow.id))).scalars())

    async def endpoint(self, endpoint_id: str, key_id: str | None = None) -> WebhookEndpointRow | None:
        async with self._sessions() as session:
            row = await session.get(WebhookEndpointRow, endpoint_id)
        if row is None or (key_id is not None and row.key_id != key_id):
            return None
        return row

    async def remove(self, endpoint_id: str, key_id: str) -> bool:
        async with self._sessions.begin() as session:
            removed = await session.execute(
                delete(WebhookEndpointRow).where(
                    WebhookEndpointRow.id == endpoint_id, WebhookEndpointRow.key_id == key_id
                )
            )
            if rowcount(removed):
                await session.execute(
                    delete(WebhookDeliveryRow).where(WebhookDeliveryRow.endpoint_id == endpoint_id)
                )
        return bool(rowcount(removed))

    async def emit(self, key_id: str, event_type: str, data: dict[str, Any]) -> int:
        """Queue `event_type` for every endpoint of the key subscribed to it; how many."""
        async with self._sessions.begin() as session:
            return await emit_in(session, key_id, event_type, data)

    async def test(self, endpoint: WebhookEndpointRow) -> WebhookDeliveryRow:
        """Queue a `webhook.test` event for one endpoint, whatever it subscribed to."""
        body = event_body(TEST_EVENT, {"endpoint_id": endpoint.id, "message": "A test delivery."})
        return (await self._queue([endpoint.id], TEST_EVENT, body))[0]

    async def _queue(self, endpoint_ids: list[str], event_type: str, body: str) -> list[WebhookDeliveryRow]:
        rows = _deliveries(endpoint_ids, event_type, body)
        async with self._sessions.begin() as session:
            session.add_all(rows)
        return rows

    async def deliveries(
        self, endpoint_id: str, *, after: str | None, limit: int
    ) -> list[WebhookDeliveryRow]:
        """An endpoint's delivery log, newest first."""
        query = select(WebhookDeliveryRow).where(WebhookDeliveryRow.endpoint_id == endpoint_id)
        if after:
            query = query.where(WebhookDeliveryRow.id < after)
        async with self._sessions() as session:
            return list(
                (await session.execute(query.order_by(WebhookDeliveryRow.id.desc()).limit(limit))).scalars()
            )

    async def claim_due(self, lease_ms: int, limit: int) -> list[WebhookDeliveryRow]:
        """Pending deliveries that are due, each leased to this caller by a conditional UPDATE."""
        now = now_ms()
        free = and_(
            WebhookDeliveryRow.status == PENDING,
            WebhookDeliveryRow.next_attempt_at <= now,
            or_(WebhookDeliveryRow.lease_until.is_(None), WebhookDeliveryRow.lease_until < now),
        )
        async with self._sessions() as session:
            due = list(
                (
                    await session.execute(
                        select(WebhookDeliveryRow.id)
                        .where(free)
                        .order_by(WebhookDeliveryRow.next_attempt_at)
                        .limit(limit)
                    )
                ).scalars()
            )
        claimed: list[WebhookDeliveryRow] = []
        for delivery_id in due:
            async with self._sessions.begin() as session:
                taken = await session.execute(
                    update(WebhookDeliveryRow)
                    .where(WebhookDeliveryRow.id == delivery_id, free)
                    .values(lease_until=now + lease_ms)
                )
                if rowcount(taken):
                    row = await session.get(WebhookDeliveryRow, delivery_id, populate_existing=True)
                    if row is not None:
                        claimed.append(row)
        return claimed

    async def record_attempt(self, delivery_id: str, values: dict[str, Any]) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.id == delivery_id)
                .values(lease_until=None, **values)
            )
