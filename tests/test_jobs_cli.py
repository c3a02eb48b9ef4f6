"""`imagehub batch submit FILE --wait` and `imagehub jobs list`, run as the real CLI against a hub."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson

from tests.conftest import Keys
from tests.hub import Hub, cli
from tests.jobs_helpers import ENDED, submit, wait_for


def test_batch_submit_waits_with_progress_and_saves_the_files(hub: Hub, keys: Keys, tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    lines = [
        {
            "custom_id": f"cli-{index}",
            "method": "POST",
            "url": "/v1/images/generations",
            "body": {"model": "dall-e-2", "prompt": f"cli {index}", "size": "256x256"},
        }
        for index in range(5)
    ]
    lines.append(
        {"custom_id": "cli-bad", "method": "POST", "url": "/v1/images/generations", "body": {"size": 3}}
    )
    requests.write_bytes(b"\n".join(orjson.dumps(line) for line in lines))
    result = cli(
        tmp_path / "unused",
        "batch",
        "submit",
        str(requests),
        "--wait",
        "--poll",
        "0.2",
        "--base-url",
        hub.url,
        "--api-key",
        keys.sandbox,
    )
    assert result.stdout.strip().startswith("batch_")
    assert "completed [" in result.stderr and "6/6" in result.stderr and "(1 failed)" in result.stderr
    output = (tmp_path / "requests.output.jsonl").read_bytes().splitlines()
    errors = (tmp_path / "requests.errors.jsonl").read_bytes().splitlines()
    assert len(output) == 5 and len(errors) == 1
    assert orjson.loads(errors[0])["custom_id"] == "cli-bad"


def test_jobs_list_prints_the_keys_jobs(hub: Hub, keys: Keys, tmp_path: Path) -> None:
    body = {"model": "dall-e-2", "prompt": "listed", "size": "256x256"}
    job_id = submit(hub.url, keys.sandbox, body).json()["id"]
    wait_for(hub.url, keys.sandbox, job_id, ENDED)
    result = cli(tmp_path, "jobs", "list", "--base-url", f"{hub.url}/v1", "--api-key", keys.sandbox)
    first = result.stdout.splitlines()[0].split()
    assert first[0] == job_id and first[1] == "succeeded" and first[2] == "dall-e-2"
    missing = httpx.get(
        f"{hub.url}/v1/images/jobs/job_nope", headers={"Authorization": f"Bearer {keys.sandbox}"}
    )
    assert missing.status_code == 404
