"""Azure OpenAI: the OpenAI adapter with Azure's addresses, credentials, names and refusals.

Two address forms: the v1 API (`{endpoint}/openai/v1/images/…`, `model` = the Azure deployment
name) and the older per-deployment one (`{endpoint}/openai/deployments/{name}/images/…?api-version=…`),
chosen by the deployment's `api_version` (unset or "preview": v1). Credentials: the `api-key`
header, or Entra ID bearer tokens. Requests, answers and SSE streams are OpenAI's, so everything
else is the OpenAI adapter's own code.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from yarl import URL

from imagehub.catalog.platforms import platform
from imagehub.schema.images import ImageJob
from imagehub.upstream.deployments import ConfigError, Deployment
from imagehub.upstream.providers.azure.auth import EntraTokens
from imagehub.upstream.providers.azure.errors import parse_azure_error
from imagehub.upstream.providers.base import ListedModel
from imagehub.upstream.providers.errors import ClientFault
from imagehub.upstream.providers.http import UpstreamErrorInfo
from imagehub.upstream.providers.openai.provider import OpenAIProvider

_V1_VERSIONS = (None, "preview", "v1")


class AzureOpenAIProvider(OpenAIProvider):
    kind = "azure"

    @classmethod
    def from_deployment(cls, deployment: Deployment, environ: Mapping[str, str]) -> AzureOpenAIProvider:
        if not deployment.base_url:
            raise ConfigError(
                f"deployment {deployment.name!r}: Azure OpenAI needs its endpoint "
                "(base_url, or AZURE_OPENAI_ENDPOINT), e.g. https://RESOURCE.openai.azure.com"
            )
        key = deployment.credential(environ)
        auth = deployment.auth or ("api_key" if key else "entra")
        if auth == "api_key" and not key:
            raise ConfigError(f"deployment {deployment.name!r}: auth = 'api_key' but no key is set")
        return cls(deployment, key if auth == "api_key" else None)

    def __init__(self, deployment: Deployment, api_key: str | None) -> None:
        self._names = dict(deployment.upstream_names)
        self._version = deployment.api_version
        self._legacy = self._version not in _V1_VERSIONS
        self._platform = platform("azure")
        super().__init__(deployment, None)
        self._key_headers = {"api-key": api_key} if api_key else None
        self._tokens = None if api_key else EntraTokens(f"deployment {deployment.name!r}")
        self._client.add_secret(api_key or "")

    @staticmethod
    def api_base(deployment: Deployment) -> str:
        return f"{deployment.url.removesuffix('/openai/v1').removesuffix('/openai')}/openai"

    def url(self, job: ImageJob, endpoint: str) -> str | URL:
        if self._legacy:
            legacy = URL(f"{self._base}/deployments/{self.upstream_model(job)}/images/{endpoint}")
            return legacy.with_query({"api-version": str(self._version)})
        v1 = URL(f"{self._base}/v1/images/{endpoint}")
        return v1.with_query({"api-version": self._version}) if self._version else v1

    async def auth_headers(self) -> dict[str, str]:
        if self._key_headers is not None:
            return self._key_headers
        assert self._tokens is not None
        return {"Authorization": f"Bearer {await self._tokens.token()}"}

    @staticmethod
    def parse_error(status: int, payload: Any) -> UpstreamErrorInfo:
        return parse_azure_error(status, payload)

    def upstream_model(self, job: ImageJob) -> str:
        """The Azure deployment name the operator gave this model; by default the model's own name."""
        return self._names.get(job.spec.name, job.spec.name)

    def refusal(self, job: ImageJob) -> ClientFault | None:
        """What Azure cannot do for this job, known before any call is made."""
        if self._platform.refuses_format(job.output_format):
            formats = ", ".join(self._platform.output_formats or ())
            return ClientFault(
                f"Azure OpenAI does not return {job.output_format} images (it returns {formats}).",
                param="output_format",
                code="unsupported_value",
            )
        return None

    def listed_id(self, model: str) -> str:
        """The list names the resource's models, not its deployments: a model by its own name."""
        return self._platform.upstream_id(model)

    def list_url(self) -> str:
        return f"{self._base}/v1/models"

    async def list_models(self) -> list[ListedModel]:
        """`GET {endpoint}/openai/v1/models` with the deployment's api-key or Entra ID token."""
        payload = await self._client.request_json(
            "GET", self.list_url(), headers=await self.auth_headers(), parse_error=parse_azure_error
        )
        entries = payload.get("data") if isinstance(payload, dict) else None
        return [
            ListedModel(str(entry["id"]), _retirement(entry))
            for entry in entries or []
            if isinstance(entry, dict) and entry.get("id")
        ]

    async def close(self) -> None:
        await super().close()
        if self._tokens is not None:
            await self._tokens.close()


def _retirement(entry: dict[str, Any]) -> date | None:
    """Azure's `deprecation.inference` (Unix seconds): the day the model stops answering."""
    deprecation = entry.get("deprecation")
    when = deprecation.get("inference") if isinstance(deprecation, dict) else None
    if isinstance(when, int | float) and not isinstance(when, bool):
        return datetime.fromtimestamp(when, UTC).date()
    return None
