"""The two curl examples from our API page, verbatim except for host and key."""

from __future__ import annotations

import json
import subprocess

import httpx

from tests.conftest import Keys
from tests.hub import Hub
from tests.images import decode_b64, open_bytes

BASIC = """curl --location 'https://your-aigne-hub-instance.com/api/images/generations' \\
--header 'Content-Type: application/json' \\
--header 'Authorization: Bearer YOUR_API_KEY' \\
--data '{
    "prompt": "A photorealistic image of a cat programming on a laptop",
    "n": 1,
    "size": "1024x1024"
}'"""

DALL_E_3 = """curl --location 'https://your-aigne-hub-instance.com/api/images/generations' \\
--header 'Content-Type: application/json' \\
--header 'Authorization: Bearer YOUR_API_KEY' \\
--data '{
    "model": "dall-e-3",
    "prompt": "An oil painting of a futuristic city skyline at sunset, with flying cars",
    "n": 1,
    "size": "1792x1024",
    "quality": "hd",
    "style": "vivid",
    "response_format": "b64_json"
}'"""


def _run(example: str, hub: Hub, key: str) -> dict[str, object]:
    command = example.replace("https://your-aigne-hub-instance.com", hub.url).replace("YOUR_API_KEY", key)
    output = subprocess.run(
        ["bash", "-c", command + " --silent --show-error"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    body = json.loads(output)
    assert isinstance(body, dict)
    return body


def test_basic_example_returns_a_url_to_a_1024_png(hub: Hub, keys: Keys) -> None:
    body = _run(BASIC, hub, keys.sandbox)
    assert set(body) == {"created", "data"}
    data = body["data"]
    assert isinstance(data, list) and len(data) == 1 and set(data[0]) == {"url"}
    image = httpx.get(data[0]["url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert open_bytes(image.content).size == (1024, 1024)


def test_dall_e_3_example_returns_base64(hub: Hub, keys: Keys) -> None:
    body = _run(DALL_E_3, hub, keys.sandbox)
    data = body["data"]
    assert isinstance(data, list) and len(data) == 1
    # dall-e-3 is shut down (2026-05-12): gpt-image-2.5-sunburst serves it and revises no prompt.
    assert set(data[0]) == {"b64_json"}
    assert decode_b64(data[0]["b64_json"]).size == (1792, 1024)
