"""Many concurrent requests on one key with a small balance: no overspend, no lost record.

On SQLite, on PostgreSQL, and with two hub processes sharing PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.billing_hub import BEFORE_SHUTDOWNS, BillingHub, billing_hub
from tests.databases import REDIS_URL, require_redis

PRICE = 16_000  # dall-e-2 256x256
AFFORDABLE = 10
REQUESTS = 40


async def _fire(billing: BillingHub, secret: str, count: int) -> list[int]:
    """`count` requests at once, spread across the hub processes; returns their statuses."""
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def one(index: int) -> int:
            hub = billing.hubs[index % len(billing.hubs)]
            response = await client.post(
                f"{hub.url}/api/images/generations",
                headers={"Authorization": f"Bearer {secret}"},
                json={
                    "model": "dall-e-2",
                    "prompt": f"race {index}",
                    "size": "256x256",
                    "response_format": "b64_json",
                },
            )
            return response.status_code

        return list(await asyncio.gather(*(one(i) for i in range(count))))


def _prove_no_overspend(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=AFFORDABLE * PRICE)
    statuses = asyncio.run(_fire(billing, secret, REQUESTS))
    assert sorted(set(statuses)) == [200, 402], statuses
    assert statuses.count(200) == AFFORDABLE, "exactly what the balance covers, not one more"
    assert billing.key(key_id)["balance_micros"] == 0
    records = billing.records(key_id, expected=REQUESTS)
    assert len(records) == REQUESTS, "every request has its record"
    settled = [r for r in records if r["state"] == "settled"]
    assert len(settled) == AFFORDABLE and sum(r["price_micros"] for r in settled) == AFFORDABLE * PRICE
    assert all(r["state"] == "rejected" and r["status_code"] == 402 for r in records if r not in settled)
    assert len(billing.upstream.requests) == AFFORDABLE, "no upstream call for a request that cannot pay"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_no_overspend_under_concurrency(tmp_path: Path, backend: str) -> None:
    with billing_hub(tmp_path, backend, extra_env=BEFORE_SHUTDOWNS) as billing:
        _prove_no_overspend(billing)


def test_two_hub_processes_share_postgres_and_redis(tmp_path: Path) -> None:
    require_redis()
    with billing_hub(
        tmp_path, "postgresql", processes=2, redis_url=REDIS_URL, extra_env=BEFORE_SHUTDOWNS
    ) as billing:
        _prove_no_overspend(billing)

        # One rpm limit across both processes: 3 per minute in total, not 3 per process.
        key_id, secret = billing.new_key(rpm_limit=3)
        statuses = asyncio.run(_fire(billing, secret, 8))
        assert statuses.count(200) == 3 and statuses.count(429) == 5
        assert len(billing.records(key_id, expected=8)) == 8
