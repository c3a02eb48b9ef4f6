"""`stream: true` through real hubs with the official SDK: sandbox previews, an upstream that
streams real SSE, one that does not, edits, `url`, validation first, replays, two workers."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.billing_hub import BillingHub, billing_hub
from tests.conftest import Keys
from tests.hub import Hub, create_key
from tests.images import decode_b64, tiny_png

USD = 1_000_000


def _events(stream: Any) -> list[Any]:
    return list(stream)


def test_sandbox_streams_deterministic_progressive_previews(sdk: openai.OpenAI) -> None:
    def run() -> list[Any]:
        return _events(
            sdk.images.generate(
                model="gpt-image-1", prompt="a lighthouse", size="1024x1024", stream=True, partial_images=3
            )
        )

    events = run()
    assert [e.type for e in events] == ["image_generation.partial_image"] * 3 + ["image_generation.completed"]
    assert [e.partial_image_index for e in events[:3]] == [0, 1, 2]
    final = decode_b64(events[-1].b64_json)
    assert final.size == (1024, 1024)
    for event in events[:3]:
        preview = decode_b64(event.b64_json)
        assert preview.size == (1024, 1024) and event.size == "1024x1024"
        assert event.output_format == "png" and event.background == "auto"
    assert len({e.b64_json for e in events}) == 4, "each preview is further along than the last"
    assert [e.b64_json for e in run()] == [e.b64_json for e in events], "the same request, the same bytes"
    assert events[-1].usage is not None and events[-1].quality == "medium"


def test_sandbox_streams_each_image_in_order_and_urls(sdk: openai.OpenAI, hub: Hub) -> None:
    events = _events(
        sdk.images.generate(
            model="dall-e-2",
            prompt="two",
            n=2,
            size="256x256",
            stream=True,
            partial_images=1,
            response_format="url",
        )
    )
    kinds = [e.type.rsplit(".", 1)[1] for e in events]
    assert kinds == ["partial_image", "completed", "partial_image", "completed"]
    assert events[0].b64_json, "previews stay base64 with url"
    for completed in (events[1], events[3]):
        url = completed.url
        assert url.startswith(f"{hub.url}/api/images/files/")
        fetched = httpx.get(url)
        assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    assert events[1].url != events[3].url


def test_sandbox_streams_edits_from_multipart(sdk: openai.OpenAI) -> None:
    events = _events(
        sdk.images.edit(
            model="gpt-image-1",
            image=("in.png", tiny_png(256, 256), "image/png"),
            prompt="tint it",
            stream=True,
            partial_images=2,
            size="1024x1024",
        )
    )
    assert [e.type for e in events] == ["image_edit.partial_image"] * 2 + ["image_edit.completed"]


def test_a_bad_streamed_request_is_a_plain_400(sdk: openai.OpenAI, hub: Hub, keys: Keys) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.images.generate(model="dall-e-3", prompt="x", size="999x999", stream=True)
    assert refused.value.code == "invalid_value" and refused.value.param == "size"
    response = httpx.post(
        f"{hub.url}/api/images/generations",
        headers={"Authorization": f"Bearer {keys.sandbox}"},
        json={"prompt": "x", "stream": True, "partial_images": 9},
    )
    assert response.status_code == 400 and response.headers["content-type"] == "application/json"
    assert response.json()["error"]["param"] == "partial_images"


def test_stream_headers_keep_proxies_from_buffering(hub: Hub, keys: Keys) -> None:
    with httpx.stream(
        "POST",
        f"{hub.url}/v1/images/generations",
        headers={"Authorization": f"Bearer {keys.sandbox}"},
        json={"prompt": "headers", "model": "dall-e-2", "size": "256x256", "stream": True},
    ) as response:
        body = response.read().decode()
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["cache-control"] == "no-store"
    assert body.startswith("event: image_generation.completed\ndata: {")


@pytest.fixture(scope="module")
def billing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BillingHub]:
    with billing_hub(tmp_path_factory.mktemp("stream"), "sqlite") as hub:
        yield hub


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    if "billing" in request.fixturenames:
        upstream = request.getfixturevalue("billing").upstream
        upstream.reset()
        upstream.event_delay = 0.0


def test_gpt_image_upstream_events_pass_through(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=1 * USD)
    events = _events(
        billing.sdk(secret).images.generate(
            model="gpt-image-1",
            prompt="passed on",
            size="1024x1024",
            quality="high",
            stream=True,
            partial_images=2,
        )
    )
    assert [e.type for e in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    sent = billing.upstream.last.json
    assert sent["stream"] is True and sent["partial_images"] == 2 and sent["size"] == "1024x1024"
    assert decode_b64(events[0].b64_json).size == (64, 64), "the upstream's own preview, unchanged"
    # gpt-image-1 is shut down (2026-10-23): gpt-image-2.5-sunburst streams it, at its own prices.
    assert billing.upstream.last.json["model"] == "gpt-image-2.5-sunburst"
    assert events[-1].usage.output_tokens == 7024
    [record] = billing.records(key_id)
    assert record["state"] == "settled" and record["n_delivered"] == 1
    assert record["price_micros"] == 12 * 5 + 7024 * 30, "settled on the streamed usage"
    assert billing.key(key_id)["balance_micros"] == 1 * USD - record["price_micros"]


def test_gpt_image_edit_streams_upstream(billing: BillingHub) -> None:
    _, secret = billing.new_key()
    events = _events(
        billing.sdk(secret).images.edit(
            model="gpt-image-1",
            image=("in.png", tiny_png(64, 64), "image/png"),
            prompt="edit",
            stream=True,
            partial_images=1,
        )
    )
    assert [e.type for e in events] == ["image_edit.partial_image", "image_edit.completed"]
    assert billing.upstream.last.path.endswith("/images/edits")
    assert billing.upstream.last.form is not None and billing.upstream.last.field("stream") == "True"


def test_a_retired_model_streams_through_its_successor_at_its_own_size(billing: BillingHub) -> None:
    """dall-e-2 never streamed; gpt-image-2.5-sunburst serves it now and streams each image."""
    key_id, secret = billing.new_key(balance_micros=1 * USD)
    events = _events(
        billing.sdk(secret).images.generate(
            model="dall-e-2", prompt="whole", n=2, size="256x256", stream=True, partial_images=2
        )
    )
    completed = [e for e in events if e.type == "image_generation.completed"]
    assert len(completed) == 2 and all(e.size == "256x256" for e in completed)
    assert billing.upstream.last.json["model"] == "gpt-image-2.5-sunburst"
    [record] = billing.records(key_id)
    assert record["n_delivered"] == 2 and record["price_micros"] > 0


def test_idempotent_stream_replays_its_completed_events(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=1 * USD)
    client = billing.sdk(secret)
    headers = {"Idempotency-Key": "stream-1"}
    first = _events(
        client.images.generate(
            model="gpt-image-1", prompt="once", stream=True, partial_images=1, extra_headers=headers
        )
    )
    again = _events(
        client.images.generate(
            model="gpt-image-1", prompt="once", stream=True, partial_images=1, extra_headers=headers
        )
    )
    assert [e.type for e in again] == ["image_generation.completed"]
    assert again[0].b64_json == first[-1].b64_json
    assert len(billing.upstream.requests) == 1
    states = sorted(r["state"] for r in billing.records(key_id, expected=2))
    assert states == ["replayed", "settled"]


def _read_until(stream: Any, kind: str) -> list[Any]:
    seen = []
    for event in stream:
        seen.append(event)
        if event.type.endswith(kind):
            break
    stream.response.close()  # hang up mid-stream
    return seen


def test_hang_up_after_a_preview_charges_nothing(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=1 * USD)
    billing.upstream.event_delay = 0.4
    stream = billing.sdk(secret).images.generate(
        model="gpt-image-1", prompt="leave early", stream=True, partial_images=3
    )
    assert [e.type for e in _read_until(stream, "partial_image")] == ["image_generation.partial_image"]
    [record] = _settled(billing, key_id)
    assert record["status_code"] == 499 and record["price_micros"] == 0 and record["n_delivered"] == 0
    assert billing.key(key_id)["balance_micros"] == 1 * USD


def test_hang_up_after_one_of_two_images_charges_one(billing: BillingHub) -> None:
    key_id, secret = billing.new_key(balance_micros=1 * USD)
    billing.upstream.event_delay = 0.4
    stream = billing.sdk(secret).images.generate(
        model="gpt-image-1", prompt="one of two", n=2, size="1024x1024", quality="low", stream=True
    )
    assert [e.type for e in _read_until(stream, "completed")] == ["image_generation.completed"]
    [record] = _settled(billing, key_id)
    assert record["status_code"] == 499 and record["n_delivered"] == 1
    # Served by gpt-image-2.5-sunburst (gpt-image-1 is shut down): its low/1024x1024 price.
    assert record["price_micros"] == 6_000, "one low/1024x1024 image, as a whole answer charges it"
    assert billing.key(key_id)["balance_micros"] == 1 * USD - 6_000


def _settled(billing: BillingHub, key_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        records = billing.records(key_id)
        if records and all(r["state"] != "pending" for r in records):
            return records
        assert time.monotonic() < deadline, records
        time.sleep(0.1)


def test_a_stream_through_two_workers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    secret = create_key(data, "workers", sandbox=True)
    hub = Hub(data).start("--workers", "2")
    try:
        client = openai.OpenAI(base_url=f"{hub.url}/v1", api_key=secret, max_retries=0)
        for index in range(6):  # the kernel spreads connections over both workers
            events = _events(
                client.images.generate(
                    model="dall-e-2",
                    prompt=f"worker {index}",
                    size="256x256",
                    stream=True,
                    partial_images=1,
                    response_format="b64_json",
                )
            )
            assert [e.type for e in events] == [
                "image_generation.partial_image",
                "image_generation.completed",
            ]
            assert base64.b64decode(events[-1].b64_json).startswith(b"\x89PNG")
    finally:
        hub.stop()
