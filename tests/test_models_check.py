"""`imagehub models check`: the catalog against OpenAI's and Gemini's own model lists."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import FakeGoogle
from tests.fakes.openai_2026 import FakeOpenAIDecember2026
from tests.hub import cli


@pytest.fixture
def upstreams() -> Iterator[tuple[FakeOpenAIDecember2026, FakeGoogle]]:
    with FakeOpenAIDecember2026() as openai_fake, FakeGoogle() as google_fake:
        yield openai_fake, google_fake


def _env(openai_fake: FakeOpenAIDecember2026, google_fake: FakeGoogle) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": f"{openai_fake.url}/v1",
        "OPENAI_API_KEY": openai_fake.api_key,
        "GEMINI_BASE_URL": f"{google_fake.url}/v1beta",
        "GEMINI_API_KEY": google_fake.api_key,
    }


def test_no_drift_against_december_2026(
    tmp_path: Path, upstreams: tuple[FakeOpenAIDecember2026, FakeGoogle]
) -> None:
    openai_fake, google_fake = upstreams
    done = cli(tmp_path, "models", "check", env=_env(*upstreams), check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("no drift") == 2
    assert openai_fake.last.path == "/v1/models"
    assert openai_fake.last.headers["authorization"] == f"Bearer {openai_fake.api_key}"
    assert google_fake.last.path == "/v1beta/models"


def test_drift_is_named_and_exits_1_with_json(
    tmp_path: Path, upstreams: tuple[FakeOpenAIDecember2026, FakeGoogle]
) -> None:
    openai_fake, google_fake = upstreams
    openai_fake.listed = [entry for entry in openai_fake.listed if entry[0] != "gpt-image-2.6-flare"]
    openai_fake.listed.append(("gpt-image-2.7-nova", 1796000000, None))
    openai_fake.listed = [
        (name, created, "2027-03-01" if name == "gpt-image-2.5-flare" else shutdown)
        for name, created, shutdown in openai_fake.listed
    ]
    google_fake.listed_models.append("gemini-2.5-flash-image")  # the catalog says shut down 2026-10-02
    done = cli(tmp_path, "models", "check", "--json", env=_env(*upstreams), check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["drift"] is True
    by_provider = {entry["provider"]: entry for entry in report["upstreams"]}
    openai_drift = by_provider["openai"]
    assert openai_drift["unknown_to_catalog"] == ["gpt-image-2.7-nova"]
    assert openai_drift["not_listed_upstream"] == ["gpt-image-2.6-flare"]
    assert openai_drift["shutdown_dates"] == [
        {"model": "gpt-image-2.5-flare", "catalog": None, "upstream": "2027-03-01"}
    ]
    assert by_provider["google"]["shutdown_dates"] == [
        {"model": "gemini-2.5-flash-image", "catalog": "2026-10-02", "upstream": None}
    ]
    text = cli(tmp_path, "models", "check", env=_env(*upstreams), check=False)
    assert text.returncode == 1 and "gpt-image-2.7-nova" in text.stdout


def test_an_unreadable_list_exits_2(
    tmp_path: Path, upstreams: tuple[FakeOpenAIDecember2026, FakeGoogle]
) -> None:
    openai_fake, _ = upstreams
    env = {"OPENAI_BASE_URL": f"{openai_fake.url}/v1", "OPENAI_API_KEY": "sk-wrong"}
    done = cli(tmp_path, "models", "check", env=env, check=False)
    assert done.returncode == 2 and "could not read" in done.stdout and "sk-wrong" not in done.stdout
