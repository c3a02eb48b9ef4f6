"""Vertex AI's generateContent for the Gemini image models: gemini.py's wire, Google Cloud's address and auth.

A model lives at `…/projects/{project}/locations/{location}/publishers/google/models/{model}`
on `{location}-aiplatform.googleapis.com`, or on `aiplatform.googleapis.com` for the `global`
location. Failures of google-auth itself (no credentials, a refused grant) make the deployment
fall over like a 401 would (auth.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from yarl import URL

from imagehub.catalog.platforms import platform
from imagehub.schema.images import GenerationResult, ImageJob
from imagehub.upstream.deployments import Deployment
from imagehub.upstream.providers.base import ListedModel
from imagehub.upstream.providers.errors import DeploymentFault
from imagehub.upstream.providers.gemini import GenerateContentProvider, parse_google_error
from imagehub.upstream.providers.vertex.auth import GoogleTokens

DEFAULT_LOCATION = "global"
_MAX_PAGES = 50
_PUBLISHED = "publishers/google/models"


def vertex_base(location: str) -> str:
    """Vertex AI's public address for a location."""
    host = "aiplatform.googleapis.com" if location == "global" else f"{location}-aiplatform.googleapis.com"
    return f"https://{host}/v1"


class VertexProvider(GenerateContentProvider):
    kind = "vertex"
    platform = "Vertex AI"

    @classmethod
    def from_deployment(cls, deployment: Deployment, environ: Mapping[str, str]) -> VertexProvider:
        project = deployment.project or environ.get("GOOGLE_CLOUD_PROJECT") or None
        location = deployment.location or environ.get("GOOGLE_CLOUD_LOCATION") or DEFAULT_LOCATION
        key_file = deployment.credentials_file or environ.get("GOOGLE_APPLICATION_CREDENTIALS") or None
        return cls(deployment, project=project, location=location, tokens=GoogleTokens(key_file))

    def __init__(
        self, deployment: Deployment, *, project: str | None, location: str, tokens: GoogleTokens
    ) -> None:
        super().__init__(deployment)
        self._project = project
        self._location = location
        self._tokens = tokens
        self._base = (deployment.base_url or vertex_base(location)).rstrip("/")
        self._names = dict(deployment.upstream_names)
        self._platform = platform("vertex")

    def listed_id(self, model: str) -> str:
        return self._names.get(model) or self._platform.upstream_id(model)

    def model_url(self, job: ImageJob) -> str:
        where = f"projects/{self._project}/locations/{self._location}"
        return f"{self._base}/{where}/{_PUBLISHED}/{self.listed_id(job.spec.name)}"

    def list_url(self) -> str:
        # Model Garden's publisher list is a v1beta1 method on the same regional host.
        return f"{self._base.removesuffix('/v1')}/v1beta1/{_PUBLISHED}"

    async def list_models(self) -> list[ListedModel]:
        """`publishers.models.list` for Google's models, paged, with the deployment's OAuth token."""
        listed: list[ListedModel] = []
        token = ""
        for _ in range(_MAX_PAGES):
            query = {"pageSize": "100", **({"pageToken": token} if token else {})}
            payload = await self._client.request_json(
                "GET",
                URL(self.list_url()).with_query(query),
                headers=await self.auth_headers(),
                parse_error=parse_google_error,
            )
            page = payload if isinstance(payload, dict) else {}
            for entry in page.get("publisherModels") or []:
                name = str(entry.get("name") or "") if isinstance(entry, dict) else ""
                if name:
                    listed.append(ListedModel(name.rpartition("/")[2].partition("@")[0]))
            token = str(page.get("nextPageToken") or "")
            if not token:
                break
        return listed

    async def auth_headers(self) -> dict[str, str]:
        token = await self._tokens.token(f"deployment {self.name!r}")
        if self._project is None:
            self._project = self._tokens.project
            if self._project is None:
                raise DeploymentFault(
                    f"deployment {self.name!r}: no Google Cloud project (set project or GOOGLE_CLOUD_PROJECT)"
                )
        return {"Authorization": f"Bearer {token}"}

    async def generate(self, job: ImageJob) -> GenerationResult:
        if self._project is None:
            await self.auth_headers()  # learns the project from the credentials before the URL is built
        return await super().generate(job)
