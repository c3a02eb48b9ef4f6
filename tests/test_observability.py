"""Operations: Prometheus metrics and one structured JSON log line per request."""

from __future__ import annotations

import json

import httpx
import openai

from tests.conftest import Keys, LiveHub
from tests.fakes import FakeGoogle, FakeOpenAI, Fault
from tests.hub import Hub


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_images_and_bytes(hub: Hub, sdk: openai.OpenAI) -> None:
    before = httpx.get(f"{hub.url}/metrics").text
    sdk.images.generate(model="dall-e-2", prompt="metered", n=2, size="256x256", response_format="url")
    after = httpx.get(f"{hub.url}/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    route = "/api/images/generations"
    assert (
        _metric(text, "imagehub_requests_total", route=route, status="200")
        == _metric(before, "imagehub_requests_total", route=route, status="200") + 1
    )
    # dall-e-2 is shut down: the images are counted under the model that drew them.
    served = _metric(text, "imagehub_images_served_total", model="gpt-image-2.5-sunburst", provider="sandbox")
    assert served >= 2
    assert _metric(text, "imagehub_bytes_stored_total") > 0
    assert _metric(text, "imagehub_request_duration_seconds_count", route=route) >= 1


def test_upstream_calls_and_errors_by_provider(
    live: LiveHub, upstreams: tuple[FakeOpenAI, FakeGoogle]
) -> None:
    fake, _ = upstreams
    fake.enqueue(Fault.status(500))
    live.sdk().images.generate(model="dall-e-2", prompt="retried", size="256x256", response_format="b64_json")
    text = httpx.get(f"{live.hub.url}/metrics").text
    assert _metric(text, "imagehub_upstream_calls_total", provider="openai", outcome="ok") >= 1
    assert _metric(text, "imagehub_upstream_errors_total", provider="openai", kind="server_error") >= 1


def test_one_json_log_line_per_request_with_its_id(hub: Hub, keys: Keys) -> None:
    response = httpx.post(
        f"{hub.url}/api/images/generations",
        headers={"Authorization": f"Bearer {keys.sandbox}"},
        json={"prompt": "logged", "size": "256x256"},
        timeout=60,
    )
    request_id = response.headers["x-request-id"]
    lines = [json.loads(line) for line in hub.log().splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("request_id") == request_id]
    assert len(mine) == 1
    entry = mine[0]
    assert entry["status"] == 200 and entry["path"] == "/api/images/generations" and entry["method"] == "POST"
    assert entry["model"] == "gpt-image-2.5-sunburst" and entry["requested_model"] == "dall-e-2"
    assert entry["provider"] == "sandbox" and entry["images"] == 1
    assert entry["duration_ms"] > 0 and entry["key_id"].startswith("key_")
    assert keys.sandbox not in hub.log(), "secrets never reach the log"
