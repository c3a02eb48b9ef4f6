"""Webhooks: registered per key, signed per Standard Webhooks (verified here with the
`standardwebhooks` package on every delivery), retried with backoff, logged, SSRF-guarded."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import httpx
import pytest
from standardwebhooks import Webhook

from tests.billing_hub import BillingHub, billing_hub
from tests.fakes import Fault
from tests.jobs_helpers import ENDED, auth, submit, wait_for
from tests.webhook_receiver import Receiver

BODY = {"model": "dall-e-2", "prompt": "notify me", "size": "256x256", "response_format": "b64_json"}


@pytest.fixture(scope="module")
def billing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BillingHub]:
    env = {
        "IMAGEHUB_WEBHOOK_ALLOWLIST": "127.0.0.1",  # the receiver runs on this machine
        "IMAGEHUB_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        "IMAGEHUB_JOB_POLL_SECONDS": "0.1",
        "IMAGEHUB_SWEEP_INTERVAL_SECONDS": "0.5",  # housekeeping (re-announcing) twice a second
        "IMAGEHUB_JOB_LEASE_SECONDS": "2",
    }
    with billing_hub(tmp_path_factory.mktemp("webhooks"), "sqlite", extra_env=env) as hub:
        yield hub


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def _register(billing: BillingHub, secret: str, url: str, **extra: object) -> httpx.Response:
    return httpx.post(
        f"{billing.hub.url}/v1/webhooks/endpoints",
        json={"url": url, **extra},
        headers=auth(secret),
        timeout=30,
    )


def _verified(signing_secret: str, received: list) -> list[dict]:  # type: ignore[type-arg]
    """Every delivery verified with the Standard Webhooks package, parsed."""
    return [Webhook(signing_secret).verify(item.body, item.headers) for item in received]


def test_job_events_arrive_signed(billing: BillingHub, receiver: Receiver) -> None:
    _, secret = billing.new_key()
    created = _register(billing, secret, receiver.url)
    assert created.status_code == 201, created.text
    signing = created.json()["secret"]
    assert signing.startswith("whsec_")
    ok = submit(billing.hub.url, secret, BODY).json()["id"]
    wait_for(billing.hub.url, secret, ok, ENDED)
    billing.upstream.enqueue(Fault.content_policy().on("generations"))
    bad = submit(billing.hub.url, secret, BODY).json()["id"]
    wait_for(billing.hub.url, secret, bad, ENDED)
    events = _verified(signing, receiver.wait_for(2))
    by_job = {event["data"]["id"]: event for event in events}
    assert by_job[ok]["type"] == "image.job.succeeded"
    assert by_job[bad]["type"] == "image.job.failed" and by_job[bad]["data"]["error"]["code"]
    assert all(item.headers["webhook-id"].startswith("msg_") for item in receiver.received)


def test_a_failing_receiver_gets_retries_until_it_answers(billing: BillingHub, receiver: Receiver) -> None:
    _, secret = billing.new_key()
    endpoint = _register(billing, secret, receiver.url).json()
    receiver.fail_next = 2
    job_id = submit(billing.hub.url, secret, BODY).json()["id"]
    wait_for(billing.hub.url, secret, job_id, ENDED)
    received = receiver.wait_for(3)
    assert len({item.headers["webhook-id"] for item in received}) == 1  # one message, three tries
    assert len(_verified(endpoint["secret"], received)) == 3
    log_url = f"{billing.hub.url}/v1/webhooks/endpoints/{endpoint['id']}/deliveries"
    for _ in range(50):  # bounded: the log is written just after the answer
        log = httpx.get(log_url, headers=auth(secret), timeout=30).json()["data"]
        if log and log[0]["status"] == "delivered":
            break
        receiver.wait_for(3, seconds=0.1)
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in log] == [("delivered", 3, 204)]
    _, stranger = billing.new_key()
    assert httpx.get(log_url, headers=auth(stranger), timeout=30).status_code == 404


def test_test_delivery_and_subscriptions(billing: BillingHub, receiver: Receiver) -> None:
    _, secret = billing.new_key()
    endpoint = _register(billing, secret, receiver.url, events=["batch.completed"]).json()
    assert endpoint["events"] == ["batch.completed"]
    job_id = submit(billing.hub.url, secret, BODY).json()["id"]
    wait_for(billing.hub.url, secret, job_id, ENDED)  # not subscribed: no job event
    sent = httpx.post(
        f"{billing.hub.url}/v1/webhooks/endpoints/{endpoint['id']}/test", headers=auth(secret), timeout=30
    )
    assert sent.status_code == 202
    [event] = _verified(endpoint["secret"], receiver.wait_for(1))
    assert event["type"] == "webhook.test"
    listed = httpx.get(f"{billing.hub.url}/v1/webhooks/endpoints", headers=auth(secret), timeout=30).json()
    assert [item["id"] for item in listed["data"]] == [endpoint["id"]]
    assert "secret" not in listed["data"][0]
    gone = httpx.delete(
        f"{billing.hub.url}/v1/webhooks/endpoints/{endpoint['id']}", headers=auth(secret), timeout=30
    )
    assert gone.status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest",
        "http://[::1]:9/x",
        "file:///etc/passwd",
        "http://127.0.0.2/x",
    ],
)
def test_internal_targets_are_refused(billing: BillingHub, url: str) -> None:
    _, secret = billing.new_key()
    response = _register(billing, secret, url)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "url"


def test_an_end_never_announced_is_announced_by_housekeeping(billing: BillingHub, receiver: Receiver) -> None:
    """A hub that dies between ending a job and queueing its event: simulated by clearing the
    job's `notified` mark in the database, as the crash would have left it."""
    _, secret = billing.new_key()
    endpoint = _register(billing, secret, receiver.url).json()
    job_id = submit(billing.hub.url, secret, BODY).json()["id"]
    wait_for(billing.hub.url, secret, job_id, ENDED)
    receiver.wait_for(1)
    with sqlite3.connect(billing.hub.data_dir / "imagehub.db") as db:
        db.execute("UPDATE image_jobs SET notified = 0 WHERE id = ?", (job_id,))
    events = _verified(endpoint["secret"], receiver.wait_for(2))
    assert [(e["type"], e["data"]["id"]) for e in events] == [("image.job.succeeded", job_id)] * 2
