"""Build the Router from deployment configuration: an adapter per deployment, by the provider table."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import cast

from imagehub.upstream.circuit import CircuitBreaker
from imagehub.upstream.deployments import Deployment, HubConfig
from imagehub.upstream.providers.base import ImageProvider, ProviderFactory
from imagehub.upstream.registry import PROVIDERS
from imagehub.upstream.routing import Route, Router
from imagehub.upstream.slots import Slots, worker_share


def build_provider(deployment: Deployment, environ: Mapping[str, str]) -> ImageProvider:
    """The adapter for one deployment, by its row in the provider table."""
    factory = cast("type[ProviderFactory]", PROVIDERS[deployment.provider].load_adapter())
    return factory.from_deployment(deployment, environ)


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
            listed=frozenset() if deployment.catalog_models else frozenset(deployment.models),
        )
        for deployment in config.deployments
    ]
    return Router(routes, policy)
