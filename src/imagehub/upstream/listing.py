"""Read an upstream's own model list: OpenAI's `GET /models` (with `shutdown_date`), Gemini's
`models.list` (paged). What `imagehub models check` compares the catalog with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from imagehub.upstream.deployments import Deployment
from imagehub.upstream.providers.gemini import parse_google_error
from imagehub.upstream.providers.http import UpstreamClient
from imagehub.upstream.providers.openai.provider import parse_openai_error

#: Providers whose model list the hub can read.
LISTABLE = ("openai", "google")
_MAX_PAGES = 50


@dataclass(frozen=True, slots=True)
class ListedModel:
    name: str
    shutdown_date: date | None = None


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


async def _openai(client: UpstreamClient, deployment: Deployment, key: str | None) -> list[ListedModel]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    payload = await client.request_json(
        "GET", f"{deployment.url}/models", headers=headers, parse_error=parse_openai_error
    )
    entries = payload.get("data") if isinstance(payload, dict) else None
    return [
        ListedModel(str(entry["id"]), _day(entry.get("shutdown_date")))
        for entry in entries or []
        if isinstance(entry, dict) and entry.get("id")
    ]


async def _google(client: UpstreamClient, deployment: Deployment, key: str | None) -> list[ListedModel]:
    headers = {"x-goog-api-key": key} if key else {}
    listed: list[ListedModel] = []
    token = ""
    for _ in range(_MAX_PAGES):
        query = f"?pageSize=1000&pageToken={token}" if token else "?pageSize=1000"
        payload = await client.request_json(
            "GET", f"{deployment.url}/models{query}", headers=headers, parse_error=parse_google_error
        )
        for entry in payload.get("models", []) if isinstance(payload, dict) else []:
            name = str(entry.get("name", "")) if isinstance(entry, dict) else ""
            if name:
                listed.append(ListedModel(name.removeprefix("models/")))
        token = str(payload.get("nextPageToken") or "") if isinstance(payload, dict) else ""
        if not token:
            break
    return listed


async def list_upstream_models(deployment: Deployment, environ: Mapping[str, str]) -> list[ListedModel]:
    """The deployment's model list, or a ProviderError saying why it could not be read."""
    key = deployment.credential(environ)
    client = UpstreamClient(
        label=f"deployment {deployment.name!r}",
        timeout_seconds=min(deployment.timeout_seconds, 30.0),
        secrets=(key or "",),
    )
    try:
        if deployment.provider == "openai":
            return await _openai(client, deployment, key)
        return await _google(client, deployment, key)
    finally:
        await client.close()
