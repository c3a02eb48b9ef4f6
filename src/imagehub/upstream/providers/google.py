"""Google's Gemini API: the Gemini image models via generateContent, keyed by `x-goog-api-key`.

The wire (sizes as aspect ratios and imageSize, safety blocks, n as concurrent calls) is
gemini.py's, shared with Vertex AI. Imagen (predict) is shut down on this API; the catalog
routes its names to Gemini models.
"""

from __future__ import annotations

from collections.abc import Mapping

from imagehub.schema.images import ImageJob
from imagehub.upstream.deployments import Deployment
from imagehub.upstream.providers.gemini import GenerateContentProvider


class GoogleProvider(GenerateContentProvider):
    kind = "google"

    @classmethod
    def from_deployment(cls, deployment: Deployment, environ: Mapping[str, str]) -> GoogleProvider:
        return cls(deployment, deployment.credential(environ))

    def __init__(self, deployment: Deployment, api_key: str | None) -> None:
        super().__init__(deployment, secrets=(api_key or "",))
        self._base = deployment.url
        self._headers = {"x-goog-api-key": api_key} if api_key else {}

    def model_url(self, job: ImageJob) -> str:
        return f"{self._base}/models/{job.spec.name}"

    async def auth_headers(self) -> dict[str, str]:
        return self._headers
