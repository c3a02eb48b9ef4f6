"""The Batch API through the official openai SDK: files.create(purpose="batch"), batches.create,
retrieve, list, cancel, and the output and error files through files.content.

A batch of 200 lines, some invalid, completes: every valid line once in the output file (its
ImagesResponse under `response.body`), every invalid one in the error file, counts to match,
one settled usage record per line that ran. Two hubs on PostgreSQL share the lines.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from tests.billing_hub import BillingHub, billing_hub
from tests.fakes import Fault

USD = 1_000_000
ENDPOINT = "/v1/images/generations"


def _line(custom_id: str, **body: Any) -> bytes:
    request = {"model": "dall-e-2", "prompt": f"line {custom_id}", "size": "256x256", **body}
    return orjson.dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": request})


def _input(valid: int) -> tuple[bytes, set[str], dict[str, str]]:
    """`valid` good lines and a handful of bad ones; (file, good ids, bad id -> expected code)."""
    lines = [
        _line(f"ok-{index}", response_format="b64_json" if index % 2 else "url") for index in range(valid)
    ]
    bad = {
        "bad-size": _line("bad-size", size="7x7"),
        "bad-model": _line("bad-model", model="no-such-model"),
        "bad-url": orjson.dumps(
            {"custom_id": "bad-url", "method": "POST", "url": "/v1/chat/completions", "body": {}}
        ),
        "bad-method": orjson.dumps({"custom_id": "bad-method", "method": "GET", "url": ENDPOINT, "body": {}}),
        "ok-0": _line("ok-0"),  # a repeated custom_id
    }
    lines[3:3] = list(bad.values())
    lines.insert(10, b"{not json")
    lines.insert(20, b"")  # blank lines are skipped
    return b"\n".join(lines) + b"\n", {f"ok-{index}" for index in range(valid)}, dict.fromkeys(bad, "")


def _finish(client: openai.OpenAI, batch_id: str, seconds: float = 240) -> openai.types.Batch:
    deadline = time.monotonic() + seconds
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in {"completed", "cancelled", "expired", "failed"}:
            return batch
        assert time.monotonic() < deadline, f"batch stuck at {batch.status} {batch.request_counts}"
        time.sleep(0.2)


def _jsonl(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    return [orjson.loads(line) for line in client.files.content(file_id).content.splitlines() if line]


def _run_batch(billing: BillingHub, client: openai.OpenAI, key_id: str, valid: int) -> None:
    content, good, bad = _input(valid)
    uploaded = client.files.create(file=("requests.jsonl", content), purpose="batch")
    assert uploaded.purpose == "batch" and uploaded.bytes == len(content)
    assert uploaded.filename == "requests.jsonl"
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h", metadata={"run": "test"}
    )
    assert batch.status == "in_progress" and batch.metadata == {"run": "test"}
    done = _finish(client, batch.id)
    assert done.status == "completed", done
    invalid = len(bad) + 1  # and the line that is not JSON
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (
        valid + invalid,
        valid,
        invalid,
    )
    output = _jsonl(client, done.output_file_id)
    assert sorted(line["custom_id"] for line in output) == sorted(good)
    for line in output:
        assert line["response"]["status_code"] == 200 and line["error"] is None
        images = openai.types.ImagesResponse.model_validate(line["response"]["body"])
        assert images.data and (images.data[0].url or images.data[0].b64_json)
    errors = _jsonl(client, done.error_file_id)
    assert len(errors) == invalid
    codes = Counter(line["error"]["code"] for line in errors)
    assert codes["invalid_json"] == 1 and codes["duplicate_custom_id"] == 1
    assert codes["invalid_url"] == 1 and codes["invalid_method"] == 1
    assert {line["custom_id"] for line in errors} >= {"bad-size", "bad-model"}
    records = billing.records(key_id, expected=valid)
    assert len(records) == valid and {r["state"] for r in records} == {"settled"}
    spent = sum(r["price_micros"] for r in records)
    assert billing.key(key_id)["balance_micros"] == 100 * USD - spent
    prompts = Counter(r.json["prompt"] for r in billing.upstream.requests_to("generations"))
    assert all(prompts[f"line {custom_id}"] == 1 for custom_id in good)  # no line ran twice
    assert batch.id in [item.id for item in client.batches.list(limit=5)]


@pytest.fixture(scope="module")
def billing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BillingHub]:
    with billing_hub(
        tmp_path_factory.mktemp("batches"), "sqlite", extra_env={"IMAGEHUB_JOB_POLL_SECONDS": "0.1"}
    ) as hub:
        yield hub


def test_a_batch_of_200_lines_with_invalid_ones_completes(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=100 * USD)
    _run_batch(billing, billing.sdk(secret), key_id, valid=193)


def test_cancel_a_batch_keeps_what_finished_and_releases_the_rest(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=100 * USD)
    client = billing.sdk(secret)
    billing.upstream.enqueue(*[Fault.timeout(1).on("generations")] * 6)
    content = b"\n".join(_line(f"c-{index}") for index in range(30))
    uploaded = client.files.create(file=("c.jsonl", content), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h")
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status in {"cancelling", "cancelled"}
    done = _finish(client, batch.id)
    assert done.status == "cancelled"
    assert done.request_counts is not None and done.request_counts.completed < 30
    errors = _jsonl(client, done.error_file_id)
    assert len(errors) == 30 - done.request_counts.completed
    records = billing.records(key_id, expected=30)
    assert len(records) == 30  # one per line, whether it ran, was stopped or never started
    assert {r["state"] for r in records} <= {"settled", "released", "cancelled"}
    spent = sum(r["price_micros"] for r in records if r["state"] == "settled")
    assert billing.key(key_id)["balance_micros"] == 100 * USD - spent  # nothing left held


def test_lines_cancelled_before_they_ran_have_one_free_record_each(billing: BillingHub) -> None:
    """One usage record per batch line, also for a line that never started: `cancelled`, free."""
    key_id, secret = billing.new_key(balance_micros=100 * USD, concurrency_limit=1)
    client = billing.sdk(secret)
    before = len(billing.upstream.requests_to("generations"))
    billing.upstream.enqueue(Fault.timeout(2).on("generations"))  # the one line that starts is slow
    content = b"\n".join(_line(f"never-{index}") for index in range(8))
    uploaded = client.files.create(file=("never.jsonl", content), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h")
    deadline = time.monotonic() + 30
    while len(billing.upstream.requests_to("generations")) == before:
        assert time.monotonic() < deadline, "no line started"
        time.sleep(0.05)
    client.batches.cancel(batch.id)
    done = _finish(client, batch.id)
    assert done.status == "cancelled" and done.request_counts is not None
    errors = _jsonl(client, done.error_file_id)
    never_ran = {line["id"].replace("batch_req_", "job_") for line in errors if line["response"] is None}
    assert len(never_ran) >= 6  # the key's one slot was held by the slow line
    records = billing.records(key_id, expected=8)
    assert len(records) == len({r["request_id"] for r in records}) == 8  # one per line, no more
    unrun = {r["request_id"]: r for r in records if r["state"] == "cancelled"}
    assert set(unrun) == never_ran
    assert all(r["price_micros"] == 0 and r["reserved_micros"] == 0 for r in unrun.values())
    assert {r["error_code"] for r in unrun.values()} == {"cancelled"}
    spent = sum(r["price_micros"] for r in records if r["state"] == "settled")
    assert billing.key(key_id)["balance_micros"] == 100 * USD - spent


def test_uploaded_files_keep_their_filename_and_list_a_page_at_a_time(billing: BillingHub) -> None:
    _, secret = billing.new_key()
    client = billing.sdk(secret)
    first = client.files.create(file=("first run.jsonl", _line("a")), purpose="batch")
    second = client.files.create(file=("nightly/second.jsonl", _line("b")), purpose="batch")
    assert (first.filename, second.filename) == ("first run.jsonl", "second.jsonl")
    assert client.files.retrieve(first.id).filename == "first run.jsonl"
    page = client.files.list(extra_query={"limit": 1})
    assert [(f.id, f.filename) for f in page.data] == [(second.id, "second.jsonl")]
    assert page.has_more is True
    rest = client.files.list(extra_query={"limit": 1, "after": second.id})
    assert [f.filename for f in rest.data] == ["first run.jsonl"] and rest.has_more is False


def test_a_key_sees_only_its_own_batches_and_files(billing: BillingHub) -> None:
    _, mine = billing.new_key()
    _, theirs = billing.new_key()
    uploaded = billing.sdk(mine).files.create(file=("x.jsonl", _line("only")), purpose="batch")
    with pytest.raises(openai.NotFoundError):
        billing.sdk(theirs).files.content(uploaded.id)
    with pytest.raises(openai.BadRequestError):
        billing.sdk(theirs).batches.create(
            input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h"
        )


def test_two_postgres_hubs_share_a_batch_and_run_no_line_twice(tmp_path: Path) -> None:
    with billing_hub(
        tmp_path, "postgresql", processes=2, extra_env={"IMAGEHUB_JOB_POLL_SECONDS": "0.05"}
    ) as billing:
        key_id, secret = billing.new_key(balance_micros=100 * USD)
        _run_batch(billing, billing.sdk(secret, hub=1), key_id, valid=60)


def test_batch_lines_run_within_the_keys_concurrency_limit(billing: BillingHub) -> None:
    """A line holds one of its key's concurrency slots while it runs, as a request would; lines
    that find the key at its limit wait their turn rather than fail."""
    _, secret = billing.new_key(balance_micros=100 * USD, concurrency_limit=1)
    client = billing.sdk(secret)
    before = len(billing.upstream.requests_to("generations"))
    billing.upstream.enqueue(Fault.timeout(2).on("generations"))
    content = b"\n".join(_line(f"limited-{index}") for index in range(3))
    uploaded = client.files.create(file=("limited.jsonl", content), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h")
    deadline = time.monotonic() + 30
    while len(billing.upstream.requests_to("generations")) == before:
        assert time.monotonic() < deadline, "no line started"
        time.sleep(0.05)
    with pytest.raises(openai.RateLimitError) as refused:  # the slow line holds the only slot
        client.images.generate(model="dall-e-2", prompt="interactive", size="256x256")
    assert refused.value.code == "concurrency_limit_exceeded"
    done = _finish(client, batch.id)
    assert done.status == "completed" and done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (3, 0)
