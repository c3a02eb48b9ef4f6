"""Clients that hang up at every moment of a request: one record each, no held money, no stall.

A sweep of raw-socket clients closes at timed moments from "right after the body" to "after the
answer", plus hang-ups during a slow upstream call, while a bystander key keeps generating. On
SQLite, and on PostgreSQL with two hubs. Then: 16 concurrent requests with one Idempotency-Key,
and kill -9 during journal flushes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.billing_hub import BEFORE_SHUTDOWNS, BillingHub, billing_hub
from tests.databases import REDIS_URL, require_redis
from tests.fakes import Fault
from tests.hangups import Bystander, assert_books_balance, hang_up, settled_records

USD = 1_000_000
BODY = {"model": "dall-e-2", "prompt": "hang up", "size": "256x256", "response_format": "b64_json"}


def _calibrate(billing: BillingHub, secret: str) -> float:
    """How long a whole request takes here, so the sweep's moments fall inside it."""
    started = time.perf_counter()
    for _ in range(3):
        billing.sdk(secret).images.generate(model="dall-e-2", prompt="warm", size="256x256")
    return (time.perf_counter() - started) / 3


async def _sweep(billing: BillingHub, secret: str, moments: list[float]) -> list[bool]:
    answered = []
    for index, after in enumerate(moments):  # one at a time: each moment lands where it is aimed
        port = billing.hubs[index % len(billing.hubs)].port
        answered.append(await hang_up(port, secret, BODY, after))
    return answered


def _hang_up_everywhere(billing: BillingHub, *, metered: bool) -> None:
    start = 1 * USD if metered else None
    key_id, secret = billing.new_key(**({"balance_micros": start} if metered else {}))
    bystander_id, bystander_secret = billing.new_key(balance_micros=100 * USD)
    latency = _calibrate(billing, secret)
    moments = [0.0] + [latency * step / 16 for step in range(1, 25)]  # 6 % to 150 % of a request
    with Bystander(billing, bystander_secret).running() as bystander:
        answered = asyncio.run(_sweep(billing, secret, moments))
        # During the upstream call: the upstream takes 0.6 s, the clients leave at 0.2 s.
        billing.upstream.enqueue(*[Fault.timeout(0.6).on("generations")] * 4)
        answered += asyncio.run(_sweep(billing, secret, [0.2] * 4))
        time.sleep(0.3)
    assert not bystander.failures, bystander.failures
    assert bystander.served > 0
    requests = 3 + len(answered)
    records = assert_books_balance(billing, key_id, requests, start)
    hung_up = [r for r in records if r["status_code"] == 499]
    settled = [r for r in records if r["state"] == "settled"]
    assert len(settled) >= 3 + sum(answered), "every client that got its answer was charged for it"
    # The four that leave during a slow upstream call are always hang-ups. The rest may be either:
    # on a quiet machine a whole request takes under a millisecond, so even the client that
    # leaves right after its body can find its answer already written (and charged) first.
    assert len(hung_up) >= 4, "hang-ups are recorded as such"
    assert len(hung_up) + len(settled) == requests
    assert_books_balance(billing, bystander_id, bystander.served, 100 * USD)


@pytest.mark.parametrize("metered", [True, False], ids=["balance", "journaled"])
def test_hang_ups_on_sqlite(tmp_path: Path, metered: bool) -> None:
    with billing_hub(tmp_path, "sqlite", extra_env=BEFORE_SHUTDOWNS) as billing:
        _hang_up_everywhere(billing, metered=metered)


def test_hang_ups_on_postgresql_with_two_hubs(tmp_path: Path) -> None:
    require_redis()
    with billing_hub(
        tmp_path, "postgresql", processes=2, redis_url=REDIS_URL, extra_env=BEFORE_SHUTDOWNS
    ) as billing:
        _hang_up_everywhere(billing, metered=True)
        _hang_up_everywhere(billing, metered=False)


async def _same_idempotency_key(billing: BillingHub, secret: str, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=count)) as client:

        async def one(index: int) -> httpx.Response:
            hub = billing.hubs[index % len(billing.hubs)]
            return await client.post(
                f"{hub.url}/api/images/generations",
                headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": "order-16"},
                json=BODY,
            )

        return list(await asyncio.gather(*(one(i) for i in range(count))))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sixteen_requests_with_one_idempotency_key(tmp_path: Path, backend: str) -> None:
    processes = 2 if backend == "postgresql" else 1
    with billing_hub(tmp_path, backend, processes=processes, extra_env=BEFORE_SHUTDOWNS) as billing:
        key_id, secret = billing.new_key(balance_micros=1 * USD)
        billing.upstream.enqueue(Fault.timeout(0.5))  # the original is still running for the others
        responses = asyncio.run(_same_idempotency_key(billing, secret, 16))
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) <= {200, 409} and statuses.count(200) >= 1, statuses
        assert len(billing.upstream.requests) == 1, "one generation, however many asked"
        originals = [r for r in responses if r.status_code == 200 and "x-idempotent-replay" not in r.headers]
        assert len(originals) == 1
        conflicts = [r for r in responses if r.status_code == 409]
        assert all(r.json()["error"]["code"] == "idempotency_key_in_progress" for r in conflicts)
        records = assert_books_balance(billing, key_id, 16, 1 * USD)
        by_id = {r["request_id"]: r for r in records}
        for response in responses:
            record = by_id[response.headers["x-request-id"]]
            assert record["status_code"] == response.status_code
        assert sum(1 for r in records if r["state"] == "settled") == 1
        replays = [r for r in responses if r.headers.get("x-idempotent-replay") == "true"]
        assert all(by_id[r.headers["x-request-id"]]["state"] == "replayed" for r in replays)


def _load(billing: BillingHub, secret: str, delivered: list[str], stop: threading.Event) -> None:
    """Journaled requests until stopped; remember the id of every one answered with images."""
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            try:
                response = client.post(
                    f"{billing.hub.url}/api/images/generations",
                    headers={"Authorization": f"Bearer {secret}"},
                    json=BODY,
                )
            except httpx.HTTPError:
                time.sleep(0.01)
                continue
            if response.status_code == 200:
                delivered.append(response.headers["x-request-id"])


def test_kill_during_journal_flushes_loses_no_delivered_request(tmp_path: Path) -> None:
    """Flushes run all the time (every millisecond); kill -9 lands in one, restart, repeat."""
    env = {"IMAGEHUB_USAGE_FLUSH_SECONDS": "0.001", **BEFORE_SHUTDOWNS}
    with billing_hub(tmp_path, "sqlite", extra_env=env) as billing:
        key_id, secret = billing.new_key()  # no balance, no budget: the journaled path
        delivered: list[str] = []
        for round_ in range(4):
            stop = threading.Event()
            workers = [
                threading.Thread(target=_load, args=(billing, secret, delivered, stop), daemon=True)
                for _ in range(4)
            ]
            for worker in workers:
                worker.start()
            time.sleep(0.6 + 0.17 * round_)
            assert billing.hub.process is not None
            billing.hub.process.kill()
            billing.hub.process.wait()
            stop.set()
            for worker in workers:
                worker.join(timeout=30)
            billing.hub.start()
        records = {r["request_id"]: r for r in settled_records(billing, key_id, len(delivered))}
        assert delivered and len(records) >= len(delivered)
        wrong = [records.get(request_id, {}).get("state") for request_id in delivered]
        assert all(state == "settled" for state in wrong), f"delivered but recorded as {set(wrong)}"
        assert not any(r["state"] == "pending" for r in records.values())
