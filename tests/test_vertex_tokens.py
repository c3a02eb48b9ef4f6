"""Vertex AI when Google's token endpoint fails mid-session: fall over or a clear error, no secret shown.

`vertex-short` serves gemini-3.1-flash-image with tokens google-auth deems expired on arrival,
so each call refreshes its token first (the moment a real token has just expired). The Gemini
API deployment serves the same model, so an unpinned request can fall over; `vertex/…` pins
the request to Vertex AI, where a failed refresh must reach the client as a plain 502.
"""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from tests.clouds import Clouds
from tests.fakes import Fault

MODEL = "gemini-3.1-flash-image"
INVALID_GRANT = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}


def _secrets(clouds: Clouds) -> list[str]:
    """What must never reach a client or a log: the issued tokens and the service account's key."""
    key_file = Path(clouds.hub.data_dir).parent / "short-service-account.json"
    private_key = json.loads(key_file.read_text(encoding="utf-8"))["private_key"]
    body = "".join(private_key.splitlines()[1:-1])
    return [*clouds.vertex_short.tokens, body[:40], body[-40:]]


def _assert_nothing_leaked(clouds: Clouds, *texts: str) -> None:
    shown = "\n".join((*texts, clouds.hub.log()))
    for secret in _secrets(clouds):
        assert secret not in shown


def test_a_refused_refresh_falls_over_and_the_next_good_one_recovers(clouds: Clouds) -> None:
    short = clouds.vertex_short
    clouds.sdk().images.generate(model=MODEL, prompt="before", response_format="b64_json")
    assert len(short.requests_to(":generateContent")) == 1 and not clouds.google.requests
    grants = short.grants

    short.enqueue(Fault.status(400, body=INVALID_GRANT).on("/token"))
    result = clouds.sdk().images.generate(model=MODEL, prompt="during", response_format="b64_json")
    assert len(short.requests_to(":generateContent")) == 1, "no call without a token"
    assert clouds.google.last.path == f"/v1beta/models/{MODEL}:generateContent"
    assert result.data is not None and result.data[0].b64_json

    clouds.sdk().images.generate(model=MODEL, prompt="after", response_format="b64_json")
    assert len(short.requests_to(":generateContent")) == 2, "Vertex AI serves again"
    assert short.grants == grants + 1, "a fresh token, granted once the endpoint works again"
    assert len(clouds.google.requests) == 1


def test_pinned_to_vertex_a_refused_refresh_is_a_clear_502(clouds: Clouds) -> None:
    clouds.vertex_short.enqueue(Fault.status(400, body=INVALID_GRANT).on("/token"))
    with pytest.raises(openai.InternalServerError) as caught:
        clouds.sdk().images.generate(model=f"vertex/{MODEL}", prompt="pinned")
    error = caught.value
    assert error.status_code == 502 and error.code == "upstream_error"
    assert "'vertex-short'" in error.message and "invalid_grant" in error.message
    assert not clouds.vertex_short.requests_to(":generateContent") and not clouds.google.requests
    _assert_nothing_leaked(clouds, error.message, str(error.body))

    clouds.sdk().images.generate(model=f"vertex/{MODEL}", prompt="recovered")
    assert len(clouds.vertex_short.requests_to(":generateContent")) == 1


def test_a_token_endpoint_that_keeps_failing_is_retried_then_a_clear_502(clouds: Clouds) -> None:
    short = clouds.vertex_short
    short.enqueue(*[Fault.status(500, body={"error": "internal_failure"}).on("/token")] * 12)
    with pytest.raises(openai.InternalServerError) as caught:
        clouds.sdk().images.generate(model=f"vertex/{MODEL}", prompt="outage")
    assert caught.value.status_code == 502 and "token endpoint failed" in caught.value.message
    attempts = len(short.requests_to("/token"))
    assert attempts >= 2, "google-auth retries a 500, and so does the router"
    assert not short.requests_to(":generateContent")
    _assert_nothing_leaked(clouds, caught.value.message)

    short.reset()  # the endpoint works again
    result = clouds.sdk().images.generate(model=f"vertex/{MODEL}", prompt="back", response_format="b64_json")
    assert result.data is not None and len(short.requests_to(":generateContent")) == 1
