"""One engine's model and its state: loading, ready, failed; and the requests it holds.

Weights load in a worker thread after the server has started, so `/healthz` answers at once
(the process is alive) while `/readyz` says 503 until the weights are on the device and one
warm-up image is drawn: an orchestrator or a hub sends nothing before that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from imagehub.catalog import Catalog, load_catalog
from imagehub.engine.metrics import EngineMetrics
from imagehub.errors import ServiceUnavailable
from imagehub.upstream.deployments import Deployment

if TYPE_CHECKING:
    from imagehub.upstream.providers.local.provider import LocalProvider

log = logging.getLogger("imagehub.engine")


class EngineRuntime:
    """The model one engine process (or Ray replica) serves."""

    def __init__(self, deployment: Deployment, catalog: Catalog | None = None) -> None:
        self.deployment = deployment
        self.model = deployment.models[0]
        self.catalog = catalog or load_catalog()
        self.provider: LocalProvider | None = None
        self.error: str | None = None
        self.in_engine = 0  # requests admitted and not yet answered in full
        self.metrics = EngineMetrics(lambda: float(self.waiting), lambda: float(self.in_engine))
        self.on_failure: Callable[[], None] | None = None  # e.g. stop the server

    @property
    def waiting(self) -> int:
        return self.provider.batcher.waiting if self.provider is not None else 0

    @property
    def ready(self) -> bool:
        return self.provider is not None

    def load(self) -> None:
        """Blocking: load the weights onto the device and draw one warm-up image."""
        from imagehub.engine.metered import MeteredEngine
        from imagehub.upstream.providers.local.pipeline import load_engine
        from imagehub.upstream.providers.local.provider import LocalProvider

        engine = load_engine(self.deployment)
        spec = self.catalog.get(self.model)
        side = spec.min_side if spec is not None and spec.min_side else 512
        engine.warm_up(side, side)
        self.provider = LocalProvider(self.deployment, MeteredEngine(engine, self.metrics))
        log.info("engine %s ready: %s on %s", self.deployment.name, self.model, self.deployment.device)

    async def start(self) -> None:
        """Load off the event loop; a failure is kept for /readyz and stops the server."""
        try:
            await asyncio.to_thread(self.load)
        except Exception as exc:
            self.error = str(exc) or type(exc).__name__
            log.error("engine %s failed to load: %s", self.deployment.name, self.error)
            if self.on_failure is not None:
                self.on_failure()

    def require(self) -> LocalProvider:
        if self.provider is not None:
            return self.provider
        why = "failed to load its model" if self.error else "is still loading its model"
        raise ServiceUnavailable(
            f"The engine {why}.", code="engine_unavailable", headers={"Retry-After": "5"}
        )

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        """Count a request as in the engine for as long as it is (waiting, drawing, sending)."""
        self.in_engine += 1
        try:
            yield
        finally:
            self.in_engine -= 1

    async def close(self) -> None:
        if self.provider is not None:
            await self.provider.close()
