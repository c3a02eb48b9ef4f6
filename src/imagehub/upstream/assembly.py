"""Build provider adapters from deployment configuration."""

from __future__ import annotations

import os
from collections.abc import Mapping

from imagehub.upstream.circuit import CircuitBreaker
from imagehub.upstream.deployments import Deployment, HubConfig
from imagehub.upstream.providers.base import ImageProvider
from imagehub.upstream.providers.engine.provider import EngineProvider
from imagehub.upstream.providers.google import GoogleProvider
from imagehub.upstream.providers.openai.provider import OpenAIProvider
from imagehub.upstream.routing import Route, Router
from imagehub.upstream.slots import Slots, worker_share


def build_provider(deployment: Deployment, environ: Mapping[str, str]) -> ImageProvider:
    if deployment.provider == "local":
        # Imported here so that torch and diffusers load only when a local model is configured.
        from imagehub.upstream.providers.local.provider import LocalProvider

        return LocalProvider.load(deployment)
    if deployment.provider == "engine":
        return EngineProvider(deployment)
    api_key = deployment.credential(environ)
    if deployment.provider == "google":
        return GoogleProvider(deployment, api_key)
    return OpenAIProvider(deployment, api_key)


def build_slots(deployment: Deployment, workers: int) -> Slots | None:
    if deployment.max_concurrent is None:
        return None
    limit = worker_share(deployment.max_concurrent, workers)
    return Slots(deployment.name, limit, deployment.queue_timeout_seconds)


def build_router(config: HubConfig, environ: Mapping[str, str] | None = None, workers: int = 1) -> Router:
    """Routes for every deployment; `workers` processes split each deployment's limit evenly."""
    environ = os.environ if environ is None else environ
    policy = config.routing
    routes = [
        Route(
            provider=build_provider(deployment, environ),
            models=frozenset(deployment.models),
            weight=deployment.weight,
            breaker=CircuitBreaker(
                policy.failure_threshold, policy.cooldown_seconds, policy.max_cooldown_seconds
            ),
            slots=build_slots(deployment, workers),
        )
        for deployment in config.deployments
    ]
    return Router(routes, policy)
