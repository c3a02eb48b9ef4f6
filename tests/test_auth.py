"""Authentication: every way a key can be wrong gets a 401 in OpenAI's shape."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.conftest import Keys
from tests.hub import Hub, cli, create_key

URL = "/api/images/generations"
BODY = {"prompt": "a key test", "size": "256x256"}


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"Authorization": ""}, "missing_api_key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_api_key"),
        ({"Authorization": "Bearer"}, "invalid_api_key"),
        ({"Authorization": "Token abc"}, "invalid_api_key"),
        ({"Authorization": "Bearer sk-not-one-of-ours"}, "invalid_api_key"),
        ({"Authorization": "Bearer ih-sbx-" + "A" * 43}, "invalid_api_key"),
    ],
)
def test_bad_credentials(http: httpx.Client, headers: dict[str, str], code: str) -> None:
    response = http.post(URL, json=BODY, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == code


def test_auth_is_checked_before_the_body(http: httpx.Client) -> None:
    response = http.post(URL, content=b"{broken", headers={"Content-Type": "application/json"})
    assert response.status_code == 401


def test_sdk_sees_authentication_error(hub: Hub) -> None:
    client = openai.OpenAI(
        base_url=f"{hub.url}/api", api_key="ih-live-wrong-wrong-wrong-wrong", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError):
        client.images.generate(prompt="x")


def test_revoked_key_stops_working(hub: Hub, http: httpx.Client) -> None:
    secret = create_key(hub.data_dir, "short-lived", sandbox=True)
    headers = {"Authorization": f"Bearer {secret}"}
    assert http.post(URL, json=BODY, headers=headers).status_code == 200
    listed = cli(hub.data_dir, "keys", "list").stdout
    line = next(row for row in listed.splitlines() if row.endswith("short-lived"))
    key_id = line.split()[0]
    cli(hub.data_dir, "keys", "revoke", key_id)
    # Another process revoked it: the hub's key cache honours that within a second.
    deadline = time.monotonic() + 3
    while (response := http.post(URL, json=BODY, headers=headers)).status_code == 200:
        assert time.monotonic() < deadline, "revocation must take effect within about a second"
        time.sleep(0.1)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_keys_are_stored_only_as_hashes(hub: Hub, keys: Keys) -> None:
    import sqlite3

    with sqlite3.connect(hub.data_dir / "imagehub.db") as db:
        dump = "\n".join(db.iterdump())
    assert keys.sandbox not in dump and keys.live not in dump
    assert keys.sandbox[:13] in dump  # the display prefix is kept, nothing more
