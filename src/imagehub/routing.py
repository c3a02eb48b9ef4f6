"""Choose who serves a job: the sandbox for sandbox keys, else a configured deployment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from imagehub.errors import ServiceUnavailable
from imagehub.jobs import GenerationResult, ImageJob
from imagehub.providers.base import ImageProvider
from imagehub.providers.sandbox import SandboxProvider


class Router:
    """Maps a model to the providers that serve it.

    `deployments` maps public model name to the providers configured for it, in preference order.
    """

    def __init__(self, deployments: Mapping[str, Sequence[ImageProvider]] | None = None) -> None:
        self.sandbox = SandboxProvider()
        self._deployments = {name: list(providers) for name, providers in (deployments or {}).items()}

    def serves(self, model: str) -> bool:
        return bool(self._deployments.get(model))

    async def generate(self, job: ImageJob, *, sandbox: bool) -> GenerationResult:
        if sandbox:
            return await self.sandbox.generate(job)
        candidates = [
            provider
            for provider in self._deployments.get(job.spec.name, [])
            if job.provider is None or provider.name == job.provider
        ]
        if not candidates:
            raise ServiceUnavailable(
                f"No provider is configured for model {job.spec.name!r} on this hub. "
                "Ask the operator to configure one, or use a sandbox key to test offline.",
                param="model",
                code="model_not_available",
            )
        return await candidates[0].generate(job)

    async def close(self) -> None:
        for providers in self._deployments.values():
            for provider in providers:
                await provider.close()
