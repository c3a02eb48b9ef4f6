"""Asynchronous jobs against a real hub and a fake OpenAI upstream, through the SDK and plain HTTP.

`Prefer: respond-async` answers 202 with a job; polling returns the same ImagesResponse a
synchronous call gives; `Prefer: wait` answers the images when they are ready in time. Money is a
synchronous request's: one usage record per job (its id is the job's), reserved at submission,
settled once, released on failure and cancel.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.billing_hub import BillingHub, billing_hub
from tests.fakes import Fault
from tests.fakes.server import png_bytes
from tests.hub import create_key
from tests.jobs_helpers import ENDED, auth, cancel, job, submit, wait_for

USD = 1_000_000
BODY = {"model": "dall-e-2", "prompt": "a lighthouse", "size": "256x256", "response_format": "b64_json"}


@pytest.fixture(scope="module")
def billing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BillingHub]:
    # One worker, so a slow job keeps the next one queued (for the cancel tests).
    env = {"IMAGEHUB_JOB_WORKERS": "1", "IMAGEHUB_JOB_POLL_SECONDS": "0.1"}
    with billing_hub(tmp_path_factory.mktemp("jobs"), "sqlite", extra_env=env) as hub:
        yield hub


def test_sdk_submit_poll_and_result_equals_a_sync_answer(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=10 * USD)
    client = billing.sdk(secret)
    raw = client.images.with_raw_response.generate(
        model="dall-e-2", prompt="a lighthouse", size="256x256", extra_headers={"Prefer": "respond-async"}
    )
    assert raw.http_response.status_code == 202
    submitted = raw.http_response.json()
    assert submitted["status"] in {"queued", "in_progress"}
    assert submitted["model"] == "dall-e-2" and submitted["size"] == "256x256"
    assert raw.headers["location"].endswith(f"/api/images/jobs/{submitted['id']}")
    assert "respond-async" in raw.headers["preference-applied"]
    ended = wait_for(billing.hub.url, secret, submitted["id"], ENDED)
    assert ended["status"] == "succeeded", ended
    # The result parses as the SDK's own ImagesResponse, and its signed URL serves the image.
    result = openai.types.ImagesResponse.model_validate(ended["result"])
    assert result.data and result.data[0].url
    image = httpx.get(result.data[0].url, timeout=30)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    # Also through the SDK's generic client, as a client without a typed method would.
    polled = client.get(f"/images/jobs/{submitted['id']}", cast_to=object)
    assert isinstance(polled, dict) and polled["status"] == "succeeded"
    records = billing.records(key_id, expected=1)
    assert [(r["request_id"], r["state"]) for r in records] == [(submitted["id"], "settled")]
    assert billing.key(key_id)["balance_micros"] == 10 * USD - records[0]["price_micros"]
    assert records[0]["price_micros"] > 0


def test_prefer_wait_answers_the_images_through_the_sdk(billing: BillingHub) -> None:
    key_id, secret = billing.new_key()
    response = billing.sdk(secret).images.generate(
        model="dall-e-2",
        prompt="waited for",
        size="256x256",
        response_format="b64_json",
        extra_headers={"Prefer": "wait=30"},
    )
    assert response.data and base64.b64decode(response.data[0].b64_json or "").startswith(b"\x89PNG")
    records = billing.records(key_id, expected=1)
    assert len(records) == 1 and records[0]["request_id"].startswith("job_")


def test_prefer_wait_too_short_answers_the_job(billing: BillingHub) -> None:
    _, secret = billing.new_key()
    billing.upstream.enqueue(Fault.timeout(2).on("generations"))
    response = httpx.post(
        f"{billing.hub.url}/v1/images/generations",
        json=BODY,
        headers={**auth(secret), "Prefer": "respond-async, wait=0.2"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] in {"queued", "in_progress"}
    assert wait_for(billing.hub.url, secret, response.json()["id"], ENDED)["status"] == "succeeded"


def test_a_key_sees_only_its_own_jobs_and_lists_them_with_a_cursor(billing: BillingHub) -> None:
    _, mine = billing.new_key()
    _, theirs = billing.new_key()
    ids = [submit(billing.hub.url, mine, BODY).json()["id"] for _ in range(3)]
    for job_id in ids:
        wait_for(billing.hub.url, mine, job_id, ENDED)
    other = httpx.get(f"{billing.hub.url}/v1/images/jobs/{ids[0]}", headers=auth(theirs), timeout=30)
    assert other.status_code == 404
    assert cancel(billing.hub.url, theirs, ids[0]).status_code == 404
    listing = httpx.get(f"{billing.hub.url}/v1/images/jobs", headers=auth(theirs), timeout=30)
    assert listing.json()["data"] == []
    seen: list[str] = []
    after = ""
    for _ in range(5):  # bounded: three pages of one, then done
        page = httpx.get(
            f"{billing.hub.url}/api/images/jobs?limit=1{after}", headers=auth(mine), timeout=30
        ).json()
        seen += [item["id"] for item in page["data"]]
        if not page["has_more"]:
            break
        after = f"&after={page['last_id']}"
    assert seen == sorted(ids, reverse=True)


def test_cancel_a_queued_and_a_running_job_releases_their_money(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=10 * USD)
    billing.upstream.enqueue(Fault.timeout(3).on("generations"))
    running = submit(billing.hub.url, secret, BODY).json()["id"]
    queued = submit(billing.hub.url, secret, BODY).json()["id"]
    wait_for(billing.hub.url, secret, running, {"in_progress"})
    assert billing.key(key_id)["balance_micros"] < 10 * USD  # both reserved
    cancelled = cancel(billing.hub.url, secret, queued)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    cancel(billing.hub.url, secret, running)
    assert wait_for(billing.hub.url, secret, running, ENDED)["status"] == "cancelled"
    records = {r["request_id"]: r for r in billing.records(key_id, expected=2)}
    assert set(records) == {running, queued}
    assert {r["state"] for r in records.values()} == {"released"}
    assert billing.key(key_id)["balance_micros"] == 10 * USD


def test_an_upstream_refusal_fails_the_job_and_charges_nothing(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=10 * USD)
    billing.upstream.enqueue(Fault.content_policy().on("generations"))
    job_id = submit(billing.hub.url, secret, BODY).json()["id"]
    ended = wait_for(billing.hub.url, secret, job_id, ENDED)
    assert ended["status"] == "failed" and ended["error"]["code"], ended
    assert ended["result"] is None
    records = billing.records(key_id, expected=1)
    assert [(r["request_id"], r["state"]) for r in records] == [(job_id, "released")]
    assert billing.key(key_id)["balance_micros"] == 10 * USD


def test_a_bad_request_is_refused_at_submission_not_queued(billing: BillingHub) -> None:
    _, secret = billing.new_key()
    response = submit(billing.hub.url, secret, {**BODY, "size": "7x7"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "size"
    broke = billing.new_key(balance_micros=0)[1]
    assert submit(billing.hub.url, broke, BODY).status_code == 402


def test_idempotency_key_on_submission_returns_the_same_job(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=10 * USD)
    first = submit(billing.hub.url, secret, BODY, **{"Idempotency-Key": "job-once"})
    again = submit(billing.hub.url, secret, BODY, **{"Idempotency-Key": "job-once"})
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    wait_for(billing.hub.url, secret, first.json()["id"], ENDED)
    settled = [r for r in billing.records(key_id, expected=2) if r["state"] == "settled"]
    assert len(settled) == 1


def test_async_edit_with_an_uploaded_image(billing: BillingHub) -> None:
    _, secret = billing.new_key()
    response = httpx.post(
        f"{billing.hub.url}/v1/images/edits",
        data={"model": "gpt-image-2", "prompt": "add a hat", "size": "1024x1024"},
        files={"image": ("in.png", png_bytes(256, 256), "image/png")},
        headers={**auth(secret), "Prefer": "respond-async"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    assert response.json()["operation"] == "edit"
    ended = wait_for(billing.hub.url, secret, response.json()["id"], ENDED)
    assert ended["status"] == "succeeded", ended
    assert billing.upstream.requests_to("/edits")


def test_sandbox_key_runs_jobs_deterministically(billing: BillingHub, tmp_path: Path) -> None:
    sandbox = create_key(billing.hub.data_dir, "sandbox-jobs", sandbox=True, env=billing.env)
    body = {"model": "gpt-image-2", "prompt": "same", "size": "1024x1024"}
    results = []
    for _ in range(2):
        job_id = submit(billing.hub.url, sandbox, body).json()["id"]
        ended = wait_for(billing.hub.url, sandbox, job_id, ENDED)
        assert ended["status"] == "succeeded", ended
        results.append(ended["result"]["data"][0]["b64_json"])
    assert results[0] == results[1]
    assert job(billing.hub.url, sandbox, job_id)["model"] == "gpt-image-2"


def test_finished_jobs_are_swept_after_their_retention_and_metrics_show_the_queue(tmp_path: Path) -> None:
    env = {"IMAGEHUB_JOB_RETENTION_SECONDS": "2", "IMAGEHUB_SWEEP_INTERVAL_SECONDS": "0.5"}
    with billing_hub(tmp_path, "sqlite", extra_env=env) as short:
        _, secret = short.new_key()
        body = {**BODY, "response_format": "url"}
        job_id = submit(short.hub.url, secret, body).json()["id"]
        ended = wait_for(short.hub.url, secret, job_id, ENDED)
        assert ended["status"] == "succeeded" and ended["expires_at"] is not None
        url = ended["result"]["data"][0]["url"]
        assert httpx.get(url, timeout=30).status_code == 200
        metrics = httpx.get(f"{short.hub.url}/metrics", timeout=30).text
        assert (
            "imagehub_jobs_queued" in metrics and 'imagehub_jobs_ended_total{status="succeeded"}' in metrics
        )
        for _ in range(200):  # bounded: swept within a few sweeps
            if (
                httpx.get(
                    f"{short.hub.url}/v1/images/jobs/{job_id}", headers=auth(secret), timeout=30
                ).status_code
                == 404
            ):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the job was never swept")
        assert httpx.get(url, timeout=30).status_code in (404, 410)  # its image expired with it


def test_running_jobs_hold_their_keys_concurrency_slots(billing: BillingHub) -> None:
    """With a concurrency limit of 1, a second job waits for the first instead of running beside
    it (or failing), and a synchronous request meanwhile is refused as it would be."""
    _, secret = billing.new_key(concurrency_limit=1)
    before = len(billing.upstream.requests_to("generations"))
    billing.upstream.enqueue(Fault.timeout(2).on("generations"))
    first = submit(billing.hub.url, secret, BODY).json()["id"]
    wait_for(billing.hub.url, secret, first, {"in_progress"})
    second = submit(billing.hub.url, secret, BODY)
    assert second.status_code == 202, second.text
    sync = httpx.post(f"{billing.hub.url}/v1/images/generations", json=BODY, headers=auth(secret), timeout=30)
    assert sync.status_code == 429 and sync.json()["error"]["code"] == "concurrency_limit_exceeded"
    for job_id in (first, second.json()["id"]):
        assert wait_for(billing.hub.url, secret, job_id, ENDED)["status"] == "succeeded"
    assert len(billing.upstream.requests_to("generations")) == before + 2
