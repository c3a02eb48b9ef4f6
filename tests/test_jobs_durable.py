"""Jobs survive their client going away and their hub being killed (kill -9), and are charged once;
two hubs on one PostgreSQL database share one queue without running a job twice; a run that lost
its lease to another run can neither record its end nor touch the money the new run holds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.billing_hub import BillingHub, billing_hub
from tests.fakes import Fault
from tests.hub import Hub
from tests.jobs_helpers import ENDED, auth, submit, wait_for

USD = 1_000_000
BODY = {"model": "dall-e-2", "prompt": "survive", "size": "256x256", "response_format": "b64_json"}
FAST_LEASES = {"IMAGEHUB_JOB_LEASE_SECONDS": "1.5", "IMAGEHUB_JOB_POLL_SECONDS": "0.1"}


def _wait_until_upstream_called(billing: BillingHub, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(billing.upstream.requests_to("generations")) < count:
        assert time.monotonic() < deadline, "the job never reached the upstream"
        time.sleep(0.05)


def _kill_mid_job_then_recover(billing: BillingHub, successor: Hub) -> None:
    key_id, secret = billing.new_key(balance_micros=10 * USD)
    billing.upstream.enqueue(Fault.timeout(60).on("generations"))  # the first run never finishes
    # The client asks to wait, then goes away long before the image exists.
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{billing.hub.url}/v1/images/generations",
            json=BODY,
            headers={**auth(secret), "Prefer": "wait=30"},
            timeout=0.5,
        )
    _wait_until_upstream_called(billing, 1)
    jobs = httpx.get(f"{billing.hub.url}/v1/images/jobs", headers=auth(secret), timeout=30).json()["data"]
    assert [job["status"] for job in jobs] == ["in_progress"]
    job_id = jobs[0]["id"]
    reserved = billing.key(key_id)["balance_micros"]
    assert reserved < 10 * USD
    assert billing.hub.process is not None
    billing.hub.process.kill()  # kill -9: no shutdown, no release, the lease just stops
    billing.hub.process.wait(timeout=10)
    successor.start()
    billing.hubs[0] = successor  # admin and usage reads go to the hub that is up
    try:
        ended = wait_for(successor.url, secret, job_id, ENDED, seconds=90)
        assert ended["status"] == "succeeded", ended
        assert ended["result"]["data"][0]["b64_json"]
        records = billing.records(key_id, expected=1)
        assert [(r["request_id"], r["state"]) for r in records] == [(job_id, "settled")]
        price = records[0]["price_micros"]
        assert price > 0
        assert billing.key(key_id)["balance_micros"] == 10 * USD - price  # charged once
        assert len(billing.upstream.requests_to("generations")) == 2  # the killed run and the re-run
    finally:
        successor.stop()


def test_sqlite_hub_killed_mid_job_restarts_and_finishes_it_charging_once(tmp_path: Path) -> None:
    with billing_hub(tmp_path, "sqlite", extra_env=FAST_LEASES) as billing:
        _kill_mid_job_then_recover(billing, Hub(billing.hub.data_dir, env=billing.env))


def test_postgres_job_of_a_killed_hub_is_finished_by_another_hub(tmp_path: Path) -> None:
    with billing_hub(tmp_path, "postgresql", extra_env=FAST_LEASES) as billing:
        other = tmp_path / "other" / "data"
        other.mkdir(parents=True)
        _kill_mid_job_then_recover(billing, Hub(other, env=billing.env))


def test_two_postgres_hubs_share_one_queue_and_run_no_job_twice(tmp_path: Path) -> None:
    env = {"IMAGEHUB_JOB_WORKERS": "3", "IMAGEHUB_JOB_POLL_SECONDS": "0.05"}
    with billing_hub(tmp_path, "postgresql", processes=2, extra_env=env) as billing:
        key_id, secret = billing.new_key(balance_micros=100 * USD)
        submitted: dict[str, str] = {}
        for index in range(40):
            hub = billing.hubs[index % 2]
            prompt = f"shared queue {index}"
            response = submit(hub.url, secret, {**BODY, "prompt": prompt})
            assert response.status_code == 202, response.text
            submitted[response.json()["id"]] = prompt
        for job_id in submitted:
            ended = wait_for(billing.hubs[1].url, secret, job_id, ENDED)
            assert ended["status"] == "succeeded", ended
        prompts = Counter(r.json["prompt"] for r in billing.upstream.requests_to("generations"))
        assert prompts == Counter(submitted.values())  # every job ran exactly once
        records = billing.records(key_id, expected=40)
        assert sorted(r["request_id"] for r in records) == sorted(submitted)
        assert {r["state"] for r in records} == {"settled"}
        spent = sum(r["price_micros"] for r in records)
        assert billing.key(key_id)["balance_micros"] == 100 * USD - spent


def test_a_hub_stopped_gracefully_gives_its_running_job_back(tmp_path: Path) -> None:
    """SIGTERM: the hub lets the job run a few seconds, then queues it again (reservation released);
    the restarted hub holds the money again under the same usage record and charges once."""
    with billing_hub(tmp_path, "sqlite", extra_env=FAST_LEASES) as billing:
        key_id, secret = billing.new_key(balance_micros=10 * USD)
        billing.upstream.enqueue(Fault.timeout(60).on("generations"))
        job_id = submit(billing.hub.url, secret, BODY).json()["id"]
        _wait_until_upstream_called(billing, 1)
        stopped = billing.hub
        stopped.stop()
        assert f"job {job_id} given back at shutdown" in stopped.log()
        successor = Hub(billing.hub.data_dir, env=billing.env).start()
        billing.hubs[0] = successor
        try:
            ended = wait_for(successor.url, secret, job_id, ENDED, seconds=90)
            assert ended["status"] == "succeeded", ended
            records = billing.records(key_id, expected=1)
            assert [(r["request_id"], r["state"]) for r in records] == [(job_id, "settled")]
            assert billing.key(key_id)["balance_micros"] == 10 * USD - records[0]["price_micros"]
        finally:
            successor.stop()


def _expire_lease_until_another_run_takes_it(billing: BillingHub, job_id: str) -> None:
    """Force the first run's lease to run out (as if its hub had missed its heartbeats) until
    another run has claimed the job, then wait for that run to call the upstream. Only the first
    run's lease is expired: a heartbeat in between merely renews it once more."""

    async def expire(first: str) -> int:
        connection = await asyncpg.connect(billing.env["IMAGEHUB_DATABASE_URL"])
        try:
            status = await connection.execute(
                "UPDATE image_jobs SET lease_until = 0 WHERE id = $1 AND lease_token = $2", job_id, first
            )
        finally:
            await connection.close()
        return int(status.split()[-1])

    async def token() -> str:
        connection = await asyncpg.connect(billing.env["IMAGEHUB_DATABASE_URL"])
        try:
            found: str = await connection.fetchval("SELECT lease_token FROM image_jobs WHERE id = $1", job_id)
        finally:
            await connection.close()
        return found

    first = asyncio.run(token())
    deadline = time.monotonic() + 30
    while asyncio.run(expire(first)):  # 0 rows: another claim replaced the first run's token
        assert time.monotonic() < deadline, "no second run took the job over"
        time.sleep(0.05)
    _wait_until_upstream_called(billing, 2)


def test_a_run_that_lost_its_lease_and_then_fails_leaves_the_new_runs_money_alone(tmp_path: Path) -> None:
    """Two hubs on one database: the first run's lease is forced to expire, another run claims the
    job; then the first run fails (an upstream 400). Its release must be a no-op (its reservation
    is fenced by its lease token), so the second run settles the one usage record and charges."""
    env = {"IMAGEHUB_JOB_POLL_SECONDS": "0.05", "IMAGEHUB_JOB_LEASE_SECONDS": "30"}
    with billing_hub(tmp_path, "postgresql", processes=2, extra_env=env) as billing:
        key_id, secret = billing.new_key(balance_micros=10 * USD)
        first_ends, second_ends = threading.Event(), threading.Event()
        billing.upstream.enqueue(
            Fault.held(first_ends, status=400).on("generations"),
            Fault.held(second_ends).on("generations"),
        )
        job_id = submit(billing.hub.url, secret, BODY).json()["id"]
        _wait_until_upstream_called(billing, 1)
        _expire_lease_until_another_run_takes_it(billing, job_id)
        first_ends.set()  # the stale run fails now, while the new one still holds the money
        deadline = time.monotonic() + 30
        while not any(f"job {job_id}: this run ended failed" in hub.log() for hub in billing.hubs):
            assert time.monotonic() < deadline, "the stale run never ended"
            time.sleep(0.05)
        pending = billing.records(key_id, expected=1)
        assert [(r["request_id"], r["state"]) for r in pending] == [(job_id, "pending")]
        second_ends.set()
        ended = wait_for(billing.hub.url, secret, job_id, ENDED)
        assert ended["status"] == "succeeded", ended
        records = billing.records(key_id, expected=1)
        assert [(r["request_id"], r["state"]) for r in records] == [(job_id, "settled")]
        price = records[0]["price_micros"]
        assert price > 0 and billing.key(key_id)["balance_micros"] == 10 * USD - price
        assert len(billing.upstream.requests_to("generations")) == 2
