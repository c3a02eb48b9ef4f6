"""A hub with live keys billed against a fake OpenAI upstream, on SQLite or PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai

from tests.databases import fresh_postgres_database
from tests.fakes import FakeOpenAI
from tests.hub import Hub, create_key

CONFIG = """
[routing]
max_retries = 1
backoff_base_seconds = 0.01
backoff_max_seconds = 0.02
cooldown_seconds = 0.1

[[deployments]]
name = "openai"
provider = "openai"
base_url = "{url}/v1"
api_key = "{key}"
timeout_seconds = {timeout}
"""


@dataclass
class BillingHub:
    hubs: list[Hub]
    upstream: FakeOpenAI
    admin_key: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def hub(self) -> Hub:
        return self.hubs[0]

    def admin(self, method: str, path: str, json: Any = None, hub: int = 0) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.hubs[hub].url}{path}",
            json=json,
            headers={"Authorization": f"Bearer {self.admin_key}"},
            timeout=30,
        )

    def new_key(self, **limits: Any) -> tuple[str, str]:
        """A live key made through the admin API; returns (id, secret)."""
        response = self.admin("POST", "/api/admin/keys", {"name": "test", "mode": "live", **limits})
        assert response.status_code == 201, response.text
        body = response.json()
        return body["id"], body["secret"]

    def key(self, key_id: str) -> dict[str, Any]:
        response = self.admin("GET", f"/api/admin/keys/{key_id}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def records(self, key_id: str, expected: int | None = None) -> list[dict[str, Any]]:
        """The key's usage records; with `expected`, wait (briefly) for other processes' batches."""
        deadline = time.monotonic() + 5
        while True:
            result = self._all_records(key_id)
            if expected is None or len(result) >= expected or time.monotonic() > deadline:
                return result
            time.sleep(0.05)

    def _all_records(self, key_id: str) -> list[dict[str, Any]]:
        """Every page of the key's records, following the API's `after` cursor."""
        result: list[dict[str, Any]] = []
        after = ""
        while True:
            response = self.admin("GET", f"/api/usage/records?key_id={key_id}&limit=1000{after}")
            assert response.status_code == 200, response.text
            page = response.json()
            result.extend(page["data"])
            if not page["has_more"]:
                return result
            after = f"&after={page['last_id']}"

    def sdk(self, secret: str, hub: int = 0) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.hubs[hub].url}/api", api_key=secret, max_retries=0, timeout=60)


#: For tests of the ledger's mechanics priced on dall-e-2 (16,000 micro-USD at 256x256): the hub
#: as of 2026-04-01, before DALL-E's shutdown, so the model and its price stay fixed.
BEFORE_SHUTDOWNS = {"IMAGEHUB_TODAY": "2026-04-01"}


@contextmanager
def billing_hub(
    tmp_path: Path,
    backend: str,
    *,
    processes: int = 1,
    redis_url: str | None = None,
    extra_env: dict[str, str] | None = None,
    upstream_timeout: float = 30.0,
) -> Iterator[BillingHub]:
    with ExitStack() as stack:
        upstream = stack.enter_context(FakeOpenAI())
        config = tmp_path / "imagehub.toml"
        config.write_text(CONFIG.format(url=upstream.url, key=upstream.api_key, timeout=upstream_timeout))
        env = {"IMAGEHUB_CONFIG_FILE": str(config), **(extra_env or {})}
        if backend == "postgresql":
            env["IMAGEHUB_DATABASE_URL"] = stack.enter_context(fresh_postgres_database())
        if redis_url:
            env["REDIS_URL"] = redis_url
        data_dir = tmp_path / "data"
        hubs = []
        for _ in range(processes):
            hub = Hub(data_dir, env=env).start()
            stack.callback(hub.stop)
            hubs.append(hub)
        admin_key = create_key(data_dir, "admin", admin=True, env=env)
        yield BillingHub(hubs, upstream, admin_key, env)
