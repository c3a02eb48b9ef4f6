"""Read an upstream's own model list: OpenAI's `GET /models` (with `shutdown_date`), Gemini's
`models.list` (paged), and each cloud platform's own through its adapter (`list_models`: Azure
OpenAI's v1 models, Vertex AI's publisher models, Bedrock's ListFoundationModels), with the
deployment's own auth and address. What `imagehub models check` compares the catalog with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from imagehub.upstream.deployments import Deployment
from imagehub.upstream.providers.base import ListedModel, ListsModels, ProviderFactory
from imagehub.upstream.providers.gemini import parse_google_error
from imagehub.upstream.providers.http import UpstreamClient
from imagehub.upstream.providers.openai.provider import parse_openai_error
from imagehub.upstream.registry import PROVIDERS

#: The APIs whose list is compared with a whole catalog family (every model they serve).
FAMILY_LISTS = ("openai", "google")
#: Providers whose model list the hub can read: those, and the platforms whose adapter lists.
LISTABLE = (*FAMILY_LISTS, "azure", "vertex", "bedrock")
_MAX_PAGES = 50

__all__ = ["FAMILY_LISTS", "LISTABLE", "ListedModel", "Listing", "list_upstream_models"]


@dataclass(frozen=True, slots=True)
class Listing:
    """What one deployment's upstream lists, and where it was read.

    `ids` is set for a cloud platform: each catalog model the deployment maps, by the id the
    platform's list shows for it; the comparison is then with what the deployment maps.
    """

    models: list[ListedModel]
    where: str
    ids: dict[str, str] | None = None


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


async def _platform(deployment: Deployment, environ: Mapping[str, str]) -> Listing:
    factory = cast("type[ProviderFactory]", PROVIDERS[deployment.provider].load_adapter())
    adapter = factory.from_deployment(deployment, environ)
    try:
        lister = cast("ListsModels", adapter)
        ids = {model: lister.listed_id(model) for model in deployment.models}
        return Listing(await lister.list_models(), lister.list_url(), ids)
    finally:
        await adapter.close()


async def list_upstream_models(deployment: Deployment, environ: Mapping[str, str]) -> Listing:
    """The deployment's model list, or a ProviderError (ConfigError) saying why it could not be read."""
    if deployment.provider not in FAMILY_LISTS:
        return await _platform(deployment, environ)
    key = deployment.credential(environ)
    client = UpstreamClient(
        label=f"deployment {deployment.name!r}",
        timeout_seconds=min(deployment.timeout_seconds, 30.0),
        secrets=(key or "",),
    )
    try:
        if deployment.provider == "openai":
            return Listing(await _openai(client, deployment, key), f"{deployment.url}/models")
        return Listing(await _google(client, deployment, key), f"{deployment.url}/models")
    finally:
        await client.close()
