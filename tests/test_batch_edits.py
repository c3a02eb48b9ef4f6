"""Batches of `/v1/images/edits` lines through the official openai SDK.

Each line's body is an edit's JSON form (`images: [{"image_url": ...}]`, an http(s) URL or a
data: URL, or `{"file_id": ...}`, an image the key uploaded with purpose "vision"). Lines are
checked like a synchronous JSON edit when the batch is created (a bad one goes to the error
file); valid ones run through the same edit path, their URLs fetched through the SSRF guard when
they run. A line whose image cannot be read fails into the error file.
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.billing_hub import BillingHub, billing_hub
from tests.fakes.server import png_bytes
from tests.image_host import ImageHost

USD = 1_000_000
EDITS = "/v1/images/edits"
RED = png_bytes(64, 64, seed="red")
BLUE = png_bytes(64, 64, seed="blue")
GREEN = png_bytes(64, 64, seed="green")


@pytest.fixture(scope="module")
def host() -> Iterator[ImageHost]:
    with ImageHost("127.0.0.1") as server:
        server.put("red.png", RED)
        yield server


@pytest.fixture(scope="module")
def billing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BillingHub]:
    env = {"IMAGEHUB_JOB_POLL_SECONDS": "0.1", "IMAGEHUB_FETCH_ALLOWLIST": "127.0.0.1"}
    with billing_hub(tmp_path_factory.mktemp("batch-edits"), "sqlite", extra_env=env) as hub:
        yield hub


def _line(custom_id: str, url: str = EDITS, **body: Any) -> bytes:
    request = {"model": "gpt-image-2", "prompt": f"edit {custom_id}", "size": "1024x1024", **body}
    return orjson.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": request})


def _finish(client: openai.OpenAI, batch_id: str, seconds: float = 120) -> openai.types.Batch:
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


def test_a_batch_of_edits_by_url_and_data_url_with_invalid_lines(
    billing: BillingHub, host: ImageHost
) -> None:
    key_id, secret = billing.new_key(balance_micros=100 * USD)
    client = billing.sdk(secret)
    data_url = "data:image/png;base64," + base64.b64encode(BLUE).decode()
    green = client.files.create(file=("green.png", GREEN), purpose="vision")
    assert (green.purpose, green.filename) == ("vision", "green.png")
    _, other_secret = billing.new_key()
    theirs = billing.sdk(other_secret).files.create(file=("theirs.png", GREEN), purpose="vision")
    lines = [
        _line("by-url", images=[{"image_url": f"{host.url}/img/red.png"}]),
        _line("by-data-url", images=[{"image_url": data_url}], response_format="b64_json"),
        _line("two-images", images=[{"image_url": data_url}, {"image_url": f"{host.url}/img/red.png"}]),
        _line("by-file-id", images=[{"file_id": green.id}]),
        # Valid when submitted, failing when run: the image is not there, or the guard refuses it.
        _line("missing-image", images=[{"image_url": f"{host.url}/img/none.png"}]),
        _line("internal-host", images=[{"image_url": "http://127.0.0.2:9/x.png"}]),
        # Invalid at submission, as a synchronous JSON edit would be.
        _line("unknown-file-id", images=[{"file_id": "file-abc"}]),
        _line("another-keys-file", images=[{"file_id": theirs.id}]),
        _line("url-and-file-id", images=[{"image_url": data_url, "file_id": green.id}]),
        _line("no-images", images=[]),
        _line("not-an-edit-model", model="dall-e-3", images=[{"image_url": data_url}]),
        _line("unknown-field", images=[{"image_url": data_url}], colour="red"),
        _line("ftp-url", images=[{"image_url": "ftp://example.com/a.png"}]),
        _line("generation-line", url="/v1/images/generations"),
    ]
    uploaded = client.files.create(file=("edits.jsonl", b"\n".join(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint=EDITS, completion_window="24h")
    assert batch.endpoint == EDITS and batch.status == "in_progress"
    done = _finish(client, batch.id)
    assert done.status == "completed", done
    assert done.request_counts is not None
    counts = done.request_counts
    assert (counts.total, counts.completed, counts.failed) == (14, 4, 10)

    output = {line["custom_id"]: line for line in _jsonl(client, done.output_file_id)}
    assert set(output) == {"by-url", "by-data-url", "two-images", "by-file-id"}
    for line in output.values():
        assert line["response"]["status_code"] == 200
        images = openai.types.ImagesResponse.model_validate(line["response"]["body"])
        assert images.data and (images.data[0].url or images.data[0].b64_json)
    assert output["by-data-url"]["response"]["body"]["data"][0]["b64_json"]
    sent = {
        r.field("prompt"): [f.data for f in r.files("image[]") or r.files("image")]
        for r in billing.upstream.requests_to("/edits")
    }
    assert sent == {
        "edit by-url": [RED],
        "edit by-data-url": [BLUE],
        "edit two-images": [BLUE, RED],
        "edit by-file-id": [GREEN],
    }
    assert host.paths.count("/img/red.png") == 2 and "/img/none.png" in host.paths

    errors = {line["custom_id"]: line for line in _jsonl(client, done.error_file_id)}
    assert set(errors) == {
        "missing-image",
        "internal-host",
        "unknown-file-id",
        "another-keys-file",
        "url-and-file-id",
        "no-images",
        "not-an-edit-model",
        "unknown-field",
        "ftp-url",
        "generation-line",
    }
    codes = {custom_id: line["error"]["code"] for custom_id, line in errors.items()}
    assert codes["unknown-file-id"] == codes["another-keys-file"] == "file_not_found"
    assert codes["url-and-file-id"] == "invalid_value" and codes["no-images"] == "empty_array"
    assert codes["not-an-edit-model"] == "model_not_supported" and codes["generation-line"] == "invalid_url"
    assert codes["ftp-url"] == "invalid_image_url"
    assert all(errors[name]["response"]["status_code"] == 400 for name in errors)

    records = billing.records(key_id, expected=6)
    states = Counter(r["state"] for r in records)
    assert states == {"settled": 4, "rejected": 2}  # one record per line that was queued
    spent = sum(r["price_micros"] for r in records if r["state"] == "settled")
    assert spent > 0 and billing.key(key_id)["balance_micros"] == 100 * USD - spent


def test_only_image_endpoints_are_accepted(billing: BillingHub) -> None:
    _, secret = billing.new_key()
    client = billing.sdk(secret)
    uploaded = client.files.create(file=("x.jsonl", _line("x", images=[])), purpose="batch")
    with pytest.raises(openai.BadRequestError) as refused:
        client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert refused.value.code == "invalid_value"


def test_a_json_edit_names_an_uploaded_image_by_file_id(billing: BillingHub) -> None:
    """The synchronous JSON edit reads `file_id` as a batch line does: the key's own upload."""
    _, secret = billing.new_key(balance_micros=10 * USD)
    image = billing.sdk(secret).files.create(file=("green.png", GREEN), purpose="vision")
    body = {"model": "gpt-image-2", "prompt": "sync by file id", "size": "1024x1024"}
    answered = httpx.post(
        f"{billing.hub.url}/v1/images/edits",
        json={**body, "images": [{"file_id": image.id}]},
        headers={"Authorization": f"Bearer {secret}"},
        timeout=60,
    )
    assert answered.status_code == 200, answered.text
    [sent] = [r for r in billing.upstream.requests_to("/edits") if r.field("prompt") == "sync by file id"]
    assert [f.data for f in sent.files("image[]") or sent.files("image")] == [GREEN]
    _, other = billing.new_key()
    refused = httpx.post(
        f"{billing.hub.url}/v1/images/edits",
        json={**body, "images": [{"file_id": image.id}]},
        headers={"Authorization": f"Bearer {other}"},
        timeout=60,
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "file_not_found"
