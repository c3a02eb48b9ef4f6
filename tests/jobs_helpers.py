"""Helpers for asynchronous-job tests: submit with Prefer, poll a job to its end (bounded)."""

from __future__ import annotations

import time
from typing import Any

import httpx

ASYNC = {"Prefer": "respond-async"}


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def submit(url: str, secret: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/images/generations", json=body, headers={**auth(secret), **ASYNC, **headers}, timeout=30
    )


def job(url: str, secret: str, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/v1/images/jobs/{job_id}", headers=auth(secret), timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for(url: str, secret: str, job_id: str, statuses: set[str], seconds: float = 60) -> dict[str, Any]:
    """Poll until the job's status is one of `statuses`; fails the test past `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        current = job(url, secret, job_id)
        if current["status"] in statuses:
            return current
        assert time.monotonic() < deadline, f"job {job_id} stuck in {current['status']}"
        time.sleep(0.1)


ENDED = {"succeeded", "failed", "cancelled"}


def cancel(url: str, secret: str, job_id: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/images/jobs/{job_id}/cancel", headers=auth(secret), timeout=30)
