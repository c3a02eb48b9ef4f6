"""Fault injection: retries, fallback, cooldown and what the client finally sees.

Each test gets its own hub (fresh circuit breakers) with two OpenAI deployments, `primary` and
`backup`, each a separate fake upstream. The weights make `primary` always tried first.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest

from tests.fakes import FakeOpenAI, Fault
from tests.hub import Hub, create_key

CONFIG = """
[routing]
max_retries = 2
backoff_base_seconds = 0.01
backoff_max_seconds = 0.05
max_retry_after_seconds = 5
failure_threshold = 1
cooldown_seconds = {cooldown}

[[deployments]]
name = "primary"
provider = "openai"
base_url = "{primary}/v1"
api_key_env = "PRIMARY_KEY"
models = ["dall-e-2", "dall-e-3"]
weight = 1000000
timeout_seconds = 1.0

[[deployments]]
name = "backup"
provider = "openai"
base_url = "{backup}/v1"
api_key = "sk-backup"
models = ["dall-e-2"]
weight = 0.000001
timeout_seconds = 1.0
"""


@dataclass
class Pair:
    primary: FakeOpenAI
    backup: FakeOpenAI
    client: openai.OpenAI
    hub: Hub


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    with FakeOpenAI(api_key="sk-primary") as primary, FakeOpenAI(api_key="sk-backup") as backup:
        yield primary, backup


def _start(tmp_path: Path, fakes: tuple[FakeOpenAI, FakeOpenAI], cooldown: float) -> tuple[Hub, str]:
    primary, backup = fakes
    config = tmp_path / "imagehub.toml"
    config.write_text(CONFIG.format(primary=primary.url, backup=backup.url, cooldown=cooldown))
    data_dir = tmp_path / "data"
    hub = Hub(
        data_dir,
        env={
            "IMAGEHUB_CONFIG_FILE": str(config),
            "PRIMARY_KEY": "sk-primary",
            "OPENAI_API_KEY": "sk-ignored-when-a-file-is-given",
        },
    ).start()
    return hub, create_key(data_dir, "faults", sandbox=False)


@pytest.fixture
def pair(
    tmp_path: Path, fakes: tuple[FakeOpenAI, FakeOpenAI], request: pytest.FixtureRequest
) -> Iterator[Pair]:
    cooldown = getattr(request, "param", 30.0)
    primary, backup = fakes
    primary.reset()
    backup.reset()
    hub, key = _start(tmp_path, fakes, cooldown)
    client = openai.OpenAI(base_url=f"{hub.url}/api", api_key=key, max_retries=0, timeout=30)
    yield Pair(primary, backup, client, hub)
    hub.stop()
    assert not primary.errors and not backup.errors
    for secret in ("sk-primary", "sk-backup", primary.url, backup.url):
        assert secret not in hub.log(), "provider keys and internal URLs never reach the logs"


def _generate(pair: Pair, model: str = "dall-e-2") -> openai.types.ImagesResponse:
    size = "256x256" if model == "dall-e-2" else "1024x1024"
    return pair.client.images.generate(
        model=model, prompt="fault test", size=size, response_format="b64_json"
    )


def _status_error(pair: Pair, model: str = "dall-e-2") -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as caught:
        _generate(pair, model)
    return caught.value


@pytest.mark.parametrize(
    "fault",
    [
        Fault.status(500),
        Fault.status(503),
        Fault.reset(),
        Fault.malformed(),
        Fault.timeout(3),
        Fault.slow_body(3),
        Fault.rate_limited(None),
    ],
    ids=["500", "503", "reset", "malformed", "timeout", "slow-body", "429"],
)
def test_one_transient_failure_is_retried_on_the_same_deployment(pair: Pair, fault: Fault) -> None:
    pair.primary.enqueue(fault)
    result = _generate(pair)
    assert result.data is not None and result.data[0].b64_json
    assert len(pair.primary.requests) == 2
    assert pair.backup.requests == []


def test_retry_after_is_honoured(pair: Pair) -> None:
    pair.primary.enqueue(Fault.rate_limited(1))
    started = time.monotonic()
    _generate(pair)
    assert time.monotonic() - started >= 0.95
    assert len(pair.primary.requests) == 2


def test_long_retry_after_falls_over_instead_of_waiting(pair: Pair) -> None:
    pair.primary.enqueue(Fault.rate_limited(120))
    started = time.monotonic()
    _generate(pair)
    assert time.monotonic() - started < 5
    assert len(pair.primary.requests) == 1 and len(pair.backup.requests) == 1


def test_exhausted_retries_fall_over_to_the_backup(pair: Pair) -> None:
    pair.primary.enqueue(*[Fault.status(500)] * 3)
    result = _generate(pair)
    assert result.data is not None
    assert len(pair.primary.requests) == 3 and len(pair.backup.requests) == 1


def test_bad_credentials_fall_over_without_retrying(pair: Pair) -> None:
    pair.primary.enqueue(Fault.status(401))
    _generate(pair)
    assert len(pair.primary.requests) == 1 and len(pair.backup.requests) == 1


def test_client_errors_are_not_retried(pair: Pair) -> None:
    pair.primary.enqueue(Fault.status(400))
    error = _status_error(pair)
    assert error.status_code == 400
    assert len(pair.primary.requests) == 1 and pair.backup.requests == []


def test_all_5xx_is_502(pair: Pair) -> None:
    pair.primary.enqueue(*[Fault.status(500)] * 3)
    pair.backup.enqueue(*[Fault.status(502)] * 3)
    error = _status_error(pair)
    assert error.status_code == 502
    assert isinstance(error.body, dict) and error.body["code"] == "upstream_error"
    assert len(pair.primary.requests) == 3 and len(pair.backup.requests) == 3


def test_all_timeouts_is_504(pair: Pair) -> None:
    pair.primary.enqueue(*[Fault.timeout(3)] * 3)
    error = _status_error(pair, "dall-e-3")  # only primary serves dall-e-3
    assert error.status_code == 504
    assert isinstance(error.body, dict) and error.body["code"] == "upstream_timeout"


def test_all_rate_limited_is_429_with_retry_after(pair: Pair) -> None:
    pair.primary.enqueue(*[Fault.rate_limited(0)] * 3)
    error = _status_error(pair, "dall-e-3")
    assert error.status_code == 429
    assert error.response.headers["retry-after"]


@pytest.mark.parametrize("pair", [1.0], indirect=True)
def test_cooldown_skips_a_failing_deployment_and_probes_it_back(pair: Pair) -> None:
    pair.primary.enqueue(*[Fault.status(500)] * 3)
    _generate(pair)  # primary fails all 3 attempts -> one failed request -> cooldown; backup serves
    assert len(pair.primary.requests) == 3
    _generate(pair)  # cooling down: primary is not even tried
    assert len(pair.primary.requests) == 3 and len(pair.backup.requests) == 2
    time.sleep(1.2)
    _generate(pair)  # cooldown over: one probe goes to primary, which now succeeds
    assert len(pair.primary.requests) == 4 and len(pair.backup.requests) == 2
    _generate(pair)
    assert len(pair.primary.requests) == 5, "a successful probe closes the circuit"


def test_every_deployment_cooling_down_is_503_with_retry_after(pair: Pair) -> None:
    pair.primary.enqueue(*[Fault.status(500)] * 3)
    _status_error(pair, "dall-e-3")  # primary is the only dall-e-3 deployment: now cooling down
    error = _status_error(pair, "dall-e-3")
    assert error.status_code == 503
    assert int(error.response.headers["retry-after"]) >= 1
    assert len(pair.primary.requests) == 3
