"""Provider `engine`: a local model served by an engine process (`imagehub engine serve`, Ray).

The engine speaks OpenAI's images API at `{base_url}/v1`, so this is the OpenAI adapter with
what an engine adds: `seed` passed through, images always as b64_json (the hub stores them), and
every call streamed when the client streams (the engine previews from its latents). The hub
keeps keys, money, storage and routing; it ranks engines by their load (engine_monitor.py).
An engine's 503 (queue full, still loading) or a refused connection moves the request to the
next engine at once instead of retrying the same one.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Any

from yarl import URL

from imagehub.schema.events import StreamItem
from imagehub.schema.images import GenerationResult, ImageJob
from imagehub.upstream.deployments import Deployment
from imagehub.upstream.providers.base import Load
from imagehub.upstream.providers.engine.monitor import EngineMonitor
from imagehub.upstream.providers.errors import ProviderError, Retryable, TryElsewhere
from imagehub.upstream.providers.openai.provider import OpenAIProvider, _files


class EngineProvider(OpenAIProvider):
    # Engines serve the catalog's local models: `local/sd-turbo` pins them as it pins in-hub ones.
    kind = "local"

    @classmethod
    def from_deployment(cls, deployment: Deployment, environ: Mapping[str, str]) -> EngineProvider:
        return cls(deployment)

    def __init__(self, deployment: Deployment) -> None:
        super().__init__(deployment, api_key=None)
        self._base = f"{deployment.url}/v1"
        self._generations_url = URL(f"{self._base}/images/generations")
        self.monitor = EngineMonitor(deployment.name, deployment.url, deployment.poll_seconds)

    def current_load(self) -> Load:
        return self.monitor.load()

    def _fields(self, job: ImageJob) -> dict[str, Any]:
        fields = super()._fields(job)
        fields["response_format"] = "b64_json"
        if job.seed is not None:
            fields["seed"] = job.seed
        return fields

    async def generate(self, job: ImageJob) -> GenerationResult:
        with self.monitor.calling():
            try:
                return await super().generate(job)
            except Retryable as error:
                raise self._elsewhere(error) from None

    async def stream(self, job: ImageJob, partial_images: int) -> AsyncGenerator[StreamItem, None]:
        fields = {**self._fields(job), "stream": True, "partial_images": partial_images}
        if job.is_edit:
            form = {name: str(value) for name, value in fields.items()}
            url = f"{self._base}/images/edits"
            items = self._streamer.stream(url, self._headers, job, form=form, files=_files(job))
        else:
            items = self._streamer.stream(str(self._generations_url), self._headers, job, json_body=fields)
        with self.monitor.calling():
            try:
                async for item in items:
                    yield item
            except Retryable as error:
                raise self._elsewhere(error) from None
            finally:
                await items.aclose()

    def _elsewhere(self, error: Retryable) -> ProviderError:
        """Busy or gone: the next engine now. Anything else retries here as for any upstream."""
        if error.status == 503:
            return TryElsewhere(
                error.message, status=503, code=error.code, retry_after=error.retry_after, busy=True
            )
        if error.code == "upstream_connection_error":
            self.monitor.mark_down()
            return TryElsewhere(error.message, status=502, code=error.code)
        return error

    async def close(self) -> None:
        await self.monitor.close()
        await super().close()
