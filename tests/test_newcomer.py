"""What a newcomer meets first: a restart's hint for another key, a 404 that says where the API
is, and browser tests that say exactly what is missing when they skip."""

from __future__ import annotations

import stat
from pathlib import Path

import openai
import pytest

from tests.browser import find_chromium
from tests.hub import Hub


def test_a_restart_with_keys_says_how_to_get_another_sandbox_key(tmp_path: Path) -> None:
    hub = Hub(tmp_path / "data").start()
    hub.stop()
    assert "Created a sandbox API key" in hub.log()
    hub.start()
    try:
        log = hub.log()
    finally:
        hub.stop()
    assert "Created a sandbox API key" not in log
    assert "imagehub keys create --name NAME --sandbox" in log


def test_an_sdk_pointed_at_the_hub_root_is_told_about_v1(hub: Hub) -> None:
    root = openai.OpenAI(base_url=hub.url, api_key="sk-anything", max_retries=0, timeout=30)
    with pytest.raises(openai.NotFoundError) as missing:
        root.models.list()
    assert "/v1/models" in missing.value.message and "/api" in missing.value.message
    with pytest.raises(openai.NotFoundError) as missing:
        root.images.edit(model="gpt-image-1", image=("a.png", b"png"), prompt="x")
    assert "/v1/images/edits" in missing.value.message


def test_an_unknown_route_anywhere_still_names_both_prefixes(hub: Hub) -> None:
    root = openai.OpenAI(base_url=hub.url, api_key="sk-anything", max_retries=0, timeout=30)
    with pytest.raises(openai.NotFoundError) as missing:
        root.get("/no/such/thing", cast_to=object)
    assert "/v1" in missing.value.message and "/api" in missing.value.message


@pytest.mark.parametrize(("present", "named"), [("chromium", "chromedriver"), ("chromedriver", "chromium")])
def test_a_browser_test_skip_names_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, present: str, named: str
) -> None:
    program = tmp_path / present
    program.write_text("#!/bin/sh\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.skip.Exception) as skipped:
        find_chromium()
    message = str(skipped.value)
    assert message.startswith(f"{named} (package ") and f"{present} (" not in message
