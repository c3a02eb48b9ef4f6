"""Prices, credits, budgets, key limits, idempotency, rate limits and usage — on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.billing_hub import BillingHub, billing_hub
from tests.fakes import Fault
from tests.hub import cli

USD = 1_000_000


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def billing(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BillingHub]:
    # The ledger's rules on DALL-E's and gpt-image-1's own price tables: the hub as of 2026-04-01.
    today = {"IMAGEHUB_TODAY": "2026-04-01"}
    with billing_hub(tmp_path_factory.mktemp(request.param), request.param, extra_env=today) as hub:
        yield hub


@pytest.fixture(autouse=True)
def _fresh_upstream(billing: BillingHub) -> None:
    billing.upstream.reset()


def test_dall_e_3_hd_wide_costs_its_list_price(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=1 * USD)
    billing.sdk(secret).images.generate(
        model="dall-e-3", prompt="priced", size="1792x1024", quality="hd", response_format="b64_json"
    )
    assert billing.key(key_id)["balance_micros"] == 1 * USD - 120_000
    [record] = billing.records(key_id)
    assert record["state"] == "settled" and record["price_micros"] == 120_000
    assert record["reserved_micros"] == 120_000 and record["n_delivered"] == 1
    assert record["provider"] == "openai" and record["status_code"] == 200


def test_dall_e_2_charges_per_delivered_image(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=1 * USD)
    billing.sdk(secret).images.generate(
        model="dall-e-2", prompt="three", n=3, size="512x512", response_format="b64_json"
    )
    assert billing.key(key_id)["balance_micros"] == 1 * USD - 3 * 18_000


def test_gpt_image_settles_on_reported_tokens(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=1 * USD)
    billing.sdk(secret).images.generate(
        model="gpt-image-1", prompt="tokens", quality="high", size="1024x1024"
    )
    [record] = billing.records(key_id)
    # The fake reports 10 input and 4160 output tokens: 10 * $5/M + 4160 * $40/M.
    assert record["reserved_micros"] == 167_000
    assert record["price_micros"] == 10 * 5 + 4160 * 40
    assert billing.key(key_id)["balance_micros"] == 1 * USD - record["price_micros"]


def test_insufficient_balance_is_402_before_any_upstream_call(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=30_000)
    with pytest.raises(openai.APIStatusError) as caught:
        billing.sdk(secret).images.generate(model="dall-e-3", prompt="too dear")
    assert caught.value.status_code == 402
    body = caught.value.body
    assert (
        isinstance(body, dict)
        and body["type"] == "insufficient_quota"
        and body["code"] == "insufficient_quota"
    )
    assert billing.upstream.requests == []
    assert billing.key(key_id)["balance_micros"] == 30_000


def test_period_budget_is_enforced(billing: BillingHub) -> None:
    _, secret = billing.new_key(budget_micros=60_000, budget_period="day")
    client = billing.sdk(secret)
    client.images.generate(model="dall-e-3", prompt="first", response_format="b64_json")  # 40_000
    with pytest.raises(openai.APIStatusError) as caught:
        client.images.generate(model="dall-e-3", prompt="second")
    assert caught.value.status_code == 402 and caught.value.code == "budget_exceeded"
    client.images.generate(model="dall-e-2", prompt="cheap", size="256x256", response_format="b64_json")
    assert len(billing.upstream.requests) == 2


def test_allowed_models_and_max_n(billing: BillingHub) -> None:
    _, secret = billing.new_key(allowed_models=["dall-e-2"], max_n=2)
    client = billing.sdk(secret)
    with pytest.raises(openai.PermissionDeniedError) as denied:
        client.images.generate(model="dall-e-3", prompt="not allowed")
    assert denied.value.code == "model_not_allowed"
    with pytest.raises(openai.BadRequestError) as too_many:
        client.images.generate(model="dall-e-2", prompt="too many", n=3)
    assert too_many.value.code == "n_above_key_limit"
    assert billing.upstream.requests == []


def test_upstream_failure_releases_the_reservation(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=1 * USD)
    billing.upstream.enqueue(Fault.status(500), Fault.status(500))
    with pytest.raises(openai.APIStatusError) as caught:
        billing.sdk(secret).images.generate(model="dall-e-3", prompt="fails")
    assert caught.value.status_code == 502
    assert billing.key(key_id)["balance_micros"] == 1 * USD
    [record] = billing.records(key_id)
    assert record["state"] == "released" and record["price_micros"] == 0 and record["status_code"] == 502


def test_content_policy_rejection_costs_nothing(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=1 * USD)
    billing.upstream.enqueue(Fault.content_policy())
    with pytest.raises(openai.BadRequestError):
        billing.sdk(secret).images.generate(model="dall-e-3", prompt="nope")
    assert billing.key(key_id)["balance_micros"] == 1 * USD


def test_sandbox_keys_record_usage_at_zero(billing: BillingHub) -> None:
    response = billing.admin(
        "POST", "/api/admin/keys", {"name": "sbx", "mode": "sandbox", "balance_micros": 0}
    )
    key_id, secret = response.json()["id"], response.json()["secret"]
    billing.sdk(secret).images.generate(model="dall-e-3", prompt="free", response_format="b64_json")
    [record] = billing.records(key_id)
    assert record["state"] == "settled" and record["price_micros"] == 0 and record["provider"] == "sandbox"
    assert billing.upstream.requests == []


def test_every_request_is_recorded_with_its_request_id(billing: BillingHub) -> None:
    key_id, secret = billing.new_key()
    ok = billing.sdk(secret).images.with_raw_response.generate(model="dall-e-2", prompt="id", size="256x256")
    with pytest.raises(openai.BadRequestError) as bad:
        billing.sdk(secret).images.generate(model="dall-e-2", prompt="id", size="1x1")
    records = {record["request_id"]: record for record in billing.records(key_id)}
    assert set(records) == {ok.headers["x-request-id"], bad.value.response.headers["x-request-id"]}
    assert records[ok.headers["x-request-id"]]["status_code"] == 200
    rejected = records[bad.value.response.headers["x-request-id"]]
    assert (
        rejected["state"] == "rejected"
        and rejected["status_code"] == 400
        and rejected["error_code"] == "invalid_value"
    )


def test_records_page_through_with_the_after_cursor(billing: BillingHub) -> None:
    """Pages of 2 visit every record once, newest first, even when they share a second."""
    key_id, secret = billing.new_key()
    client = billing.sdk(secret)
    ids = [
        client.images.with_raw_response.generate(model="dall-e-2", prompt="page", size="256x256").headers[
            "x-request-id"
        ]
        for _ in range(5)
    ]
    seen: list[str] = []
    query = f"/api/usage/records?key_id={key_id}&limit=2"
    page = billing.admin("GET", query).json()
    while True:
        assert len(page["data"]) <= 2
        seen.extend(record["request_id"] for record in page["data"])
        assert page["last_id"] == (page["data"][-1]["request_id"] if page["data"] else None)
        if not page["has_more"]:
            break
        page = billing.admin("GET", f"{query}&after={page['last_id']}").json()
    assert seen == sorted(ids, reverse=True)  # request ids start with the time: newest first
    assert billing.admin("GET", f"{query}&after=req_unknown").json() == {
        "object": "list",
        "data": [],
        "has_more": False,
        "last_id": None,
    }


def test_idempotent_retry_returns_the_original_and_charges_once(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=1 * USD)
    client = billing.sdk(secret)
    headers = {"Idempotency-Key": "order-42"}
    first = client.images.with_raw_response.generate(
        model="dall-e-2", prompt="once", size="256x256", extra_headers=headers
    )
    second = client.images.with_raw_response.generate(
        model="dall-e-2", prompt="once", size="256x256", extra_headers=headers
    )
    assert second.http_response.content == first.http_response.content
    assert second.headers["x-idempotent-replay"] == "true"
    assert len(billing.upstream.requests) == 1
    assert billing.key(key_id)["balance_micros"] == 1 * USD - 16_000
    with pytest.raises(openai.ConflictError) as conflict:
        client.images.generate(
            model="dall-e-2", prompt="different body", size="256x256", extra_headers=headers
        )
    assert conflict.value.code == "idempotency_key_reused"


def test_failed_request_frees_its_idempotency_key(billing: BillingHub) -> None:
    _, secret = billing.new_key()
    client = billing.sdk(secret)
    headers = {"Idempotency-Key": "retry-me"}
    billing.upstream.enqueue(Fault.status(500), Fault.status(500))
    with pytest.raises(openai.APIStatusError):
        client.images.generate(model="dall-e-2", prompt="x", size="256x256", extra_headers=headers)
    result = client.images.generate(model="dall-e-2", prompt="x", size="256x256", extra_headers=headers)
    assert result.data


def test_rate_limit_gives_429_with_headers(billing: BillingHub) -> None:
    _, secret = billing.new_key(rpm_limit=2)
    client = billing.sdk(secret)
    first = client.images.with_raw_response.generate(model="dall-e-2", prompt="a", size="256x256")
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    client.images.generate(model="dall-e-2", prompt="b", size="256x256")
    with pytest.raises(openai.RateLimitError) as caught:
        client.images.generate(model="dall-e-2", prompt="c", size="256x256")
    headers = caught.value.response.headers
    assert int(headers["retry-after"]) >= 1
    assert headers["x-ratelimit-remaining-requests"] == "0" and headers["x-ratelimit-reset-requests"]
    assert len(billing.upstream.requests) == 2


def test_usage_report_groups_and_scopes(billing: BillingHub) -> None:
    key_id, secret = billing.new_key()
    client = billing.sdk(secret)
    client.images.generate(model="dall-e-2", prompt="a", size="256x256", n=2)
    client.images.generate(model="dall-e-3", prompt="b")
    own = httpx.get(
        f"{billing.hub.url}/api/usage?group_by=model", headers={"Authorization": f"Bearer {secret}"}
    )
    rows = {row["model"]: row for row in own.json()["data"]}
    assert rows["dall-e-2"]["images_delivered"] == 2 and rows["dall-e-2"]["cost_micros"] == 32_000
    assert rows["dall-e-3"]["cost_micros"] == 40_000 and rows["dall-e-3"]["requests"] == 1
    by_day = billing.admin("GET", f"/api/usage?group_by=key,day&key_id={key_id}").json()["data"]
    assert len(by_day) == 1 and by_day[0]["key_id"] == key_id and by_day[0]["cost_micros"] == 72_000
    everyone = billing.admin("GET", "/api/usage?group_by=key").json()["data"]
    assert len(everyone) > 1, "admins see every key; a client key sees only its own"
    bad = billing.admin("GET", "/api/usage?group_by=colour")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "group_by"


def test_admin_api_manages_keys(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=0)
    with pytest.raises(openai.APIStatusError) as broke:
        billing.sdk(secret).images.generate(model="dall-e-2", prompt="no money", size="256x256")
    assert broke.value.status_code == 402
    topped = billing.admin("POST", f"/api/admin/keys/{key_id}/credits", {"amount_micros": 20_000})
    assert topped.json()["balance_micros"] == 20_000
    billing.sdk(secret).images.generate(model="dall-e-2", prompt="now", size="256x256")
    patched = billing.admin("PATCH", f"/api/admin/keys/{key_id}", {"max_n": 1, "rpm_limit": None})
    assert patched.json()["max_n"] == 1
    assert billing.admin("DELETE", f"/api/admin/keys/{key_id}").status_code == 200
    with pytest.raises(openai.AuthenticationError):
        billing.sdk(secret).images.generate(model="dall-e-2", prompt="revoked", size="256x256")
    listed = billing.admin("GET", "/api/admin/keys").json()["data"]
    assert any(key["id"] == key_id and key["revoked_at"] for key in listed)
    assert all("secret" not in key and "secret_hash" not in key for key in listed)


def test_admin_api_refuses_other_keys_and_bad_input(billing: BillingHub) -> None:
    _, secret = billing.new_key()
    denied = httpx.get(f"{billing.hub.url}/api/admin/keys", headers={"Authorization": f"Bearer {secret}"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "admin_key_required"
    bad = billing.admin("POST", "/api/admin/keys", {"name": "x", "balance_micros": -5})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "balance_micros"
    with pytest.raises(openai.PermissionDeniedError):
        billing.sdk(billing.admin_key).images.generate(model="dall-e-2", prompt="admins do not generate")


def test_cli_topup_update_and_usage(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=0)
    data_dir = billing.hub.data_dir
    assert "balance $2.5" in cli(data_dir, "keys", "topup", key_id, "2.50", env=billing.env).stdout
    updated = cli(
        data_dir,
        "keys",
        "update",
        key_id,
        "--rpm",
        "100",
        "--budget",
        "10",
        "--period",
        "month",
        env=billing.env,
    ).stdout
    assert "100 rpm" in updated and "budget $10/month" in updated
    billing.sdk(secret).images.generate(model="dall-e-3", prompt="cli")
    table = cli(data_dir, "usage", "--group-by", "key,model", "--key", key_id, env=billing.env).stdout
    assert key_id in table and "dall-e-3" in table and "$0.04" in table


def test_crash_after_reservation_is_recovered(tmp_path: Path) -> None:
    """Kill the hub while the upstream is still working; on restart the money comes back."""
    env = {
        "IMAGEHUB_STALE_RESERVATION_SECONDS": "1",
        "IMAGEHUB_SWEEP_INTERVAL_SECONDS": "0.3",
        "IMAGEHUB_TODAY": "2026-04-01",  # dall-e-3 at its own price, as before its shutdown
    }
    with billing_hub(tmp_path, "sqlite", extra_env=env) as billing:
        key_id, secret = billing.new_key(balance_micros=1 * USD)
        billing.upstream.enqueue(Fault.timeout(20))
        thread = threading.Thread(target=lambda: _swallow(billing.sdk(secret), "dall-e-3"), daemon=True)
        thread.start()
        _wait_for(lambda: len(billing.upstream.requests) == 1)
        assert billing.key(key_id)["balance_micros"] == 1 * USD - 40_000, "reserved while in flight"
        assert billing.hub.process is not None
        billing.hub.process.kill()
        billing.hub.process.wait()
        billing.hub.start()
        _wait_for(lambda: billing.key(key_id)["balance_micros"] == 1 * USD)
        [record] = billing.records(key_id)
        assert record["state"] == "interrupted" and record["price_micros"] == 0


def _swallow(client: openai.OpenAI, model: str) -> None:
    with contextlib.suppress(openai.APIError):
        client.images.generate(model=model, prompt="in flight")


def _wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (httpx.HTTPError, AssertionError):
            pass
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_batched_records_survive_a_killed_hub(tmp_path: Path) -> None:
    """Unmetered requests are journaled before they are batched: kill -9 loses none of them."""
    env = {"IMAGEHUB_USAGE_FLUSH_SECONDS": "3600"}
    with billing_hub(tmp_path, "sqlite", extra_env=env) as billing:
        key_id, secret = billing.new_key()  # no balance, no budget: the journaled path
        for index in range(3):
            billing.sdk(secret).images.generate(model="dall-e-2", prompt=f"kept {index}", size="256x256")
        billing.upstream.enqueue(Fault.timeout(20))
        thread = threading.Thread(target=lambda: _swallow(billing.sdk(secret), "dall-e-2"), daemon=True)
        thread.start()
        _wait_for(lambda: len(billing.upstream.requests) == 4)
        assert billing.hub.process is not None
        billing.hub.process.kill()
        billing.hub.process.wait()
        billing.hub.start()
        records = billing.records(key_id)
        states = sorted(record["state"] for record in records)
        assert states == ["interrupted", "settled", "settled", "settled"]
        assert not list((billing.hub.data_dir / "journal").glob("usage-*.jsonl"))[1:], "old segments are gone"
