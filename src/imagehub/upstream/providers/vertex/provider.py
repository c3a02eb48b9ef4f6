"""Vertex AI's generateContent for the Gemini image models: gemini.py's wire, Google Cloud's address and auth.

A model lives at `…/projects/{project}/locations/{location}/publishers/google/models/{model}`
on `{location}-aiplatform.googleapis.com`, or on `aiplatform.googleapis.com` for the `global`
location. Failures of google-auth itself (no credentials, a refused grant) make the deployment
fall over like a 401 would (auth.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from imagehub.catalog.platforms import platform
from imagehub.schema.images import GenerationResult, ImageJob
from imagehub.upstream.deployments import Deployment
from imagehub.upstream.providers.errors import DeploymentFault
from imagehub.upstream.providers.gemini import GenerateContentProvider
from imagehub.upstream.providers.vertex.auth import GoogleTokens

DEFAULT_LOCATION = "global"


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

    def model_url(self, job: ImageJob) -> str:
        model = self._names.get(job.spec.name) or self._platform.upstream_id(job.spec.name)
        where = f"projects/{self._project}/locations/{self._location}"
        return f"{self._base}/{where}/publishers/google/models/{model}"

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
