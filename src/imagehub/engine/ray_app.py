"""The engine as a Ray Serve application: one replica per GPU, autoscaled on queue length.

Each replica is a whole engine (engine/app.py) with its own weights on the GPU Ray gave it and
its own dynamic batching, so requests merge inside a replica exactly as in `imagehub engine
serve`. Ray's proxy takes HTTP on one port and picks the replica; its autoscaler adds replicas
while requests per replica (waiting or drawing) stay above `target_queue`, up to
`max_replicas`. A hub reaches the application like any engine. Deploy it with
`imagehub engine ray`, or with Ray's own CLI:

    serve run imagehub.engine.ray_app:build_app config=engine.toml num_gpus=1 max_replicas=8

Ray is an optional extra (`pip install 'imagehub[ray]'`); only this module imports it. Under
Ray, give the deployment `device = "cuda"`: Ray pins each replica to its GPU.
"""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from ray import serve
from starlette.types import ASGIApp

from imagehub.engine.app import create_engine_app
from imagehub.engine.config import engine_deployment
from imagehub.engine.runtime import EngineRuntime
from imagehub.upstream.deployments import Deployment


@dataclass(frozen=True, slots=True)
class ReplicaOptions:
    num_gpus: float = 1.0  # per replica: 1 is one replica per GPU; 0 on CPU-only machines
    num_cpus: float = 1.0
    min_replicas: int = 1
    max_replicas: int = 1
    target_queue: float = 8.0  # requests per replica (waiting or drawing) the autoscaler aims for


@serve.ingress()
class EngineReplica:
    """One engine; Ray routes HTTP to the app it builds once the weights are loaded."""

    async def __init__(self, fields: dict[str, Any]) -> None:  # type: ignore[misc]  # Ray awaits it
        self.runtime = EngineRuntime(Deployment.model_validate(fields))
        await asyncio.to_thread(self.runtime.load)  # the replica counts as started only after this

    def __serve_build_asgi_app__(self) -> ASGIApp:
        return create_engine_app(self.runtime, load=False)

    def check_health(self) -> None:
        """Ray's own health check: a replica whose model is not loaded is restarted."""
        if not self.runtime.ready:
            raise RuntimeError(self.runtime.error or "engine not loaded")


def application(deployment: Deployment, options: ReplicaOptions) -> Any:
    """The Serve application for one local deployment."""
    scaling: dict[str, Any]
    if options.min_replicas == options.max_replicas:
        scaling = {"num_replicas": options.min_replicas}
    else:
        scaling = {
            "autoscaling_config": {
                "min_replicas": options.min_replicas,
                "max_replicas": options.max_replicas,
                "target_ongoing_requests": options.target_queue,
            }
        }
    replica = serve.deployment(
        EngineReplica,
        name=f"engine-{deployment.name}",
        ray_actor_options={"num_gpus": options.num_gpus, "num_cpus": options.num_cpus},
        # A replica takes what its batcher can hold; Ray queues the rest and scales on it.
        max_ongoing_requests=deployment.queue_size + deployment.max_batch,
        **scaling,
    )
    # What the operator set (plus the resolved model): defaults of other providers' fields stay out.
    fields = {**deployment.model_dump(mode="json", exclude_unset=True), "models": list(deployment.models)}
    return replica.bind(fields)


def build_app(args: dict[str, str]) -> Any:
    """For `serve run imagehub.engine.ray_app:build_app config=FILE [deployment=NAME] [num_gpus=1]
    [num_cpus=1] [min_replicas=1] [max_replicas=1] [target_queue=N]`."""
    deployment = engine_deployment(Path(args["config"]), args.get("deployment"))
    options = ReplicaOptions(
        num_gpus=float(args.get("num_gpus", 1)),
        num_cpus=float(args.get("num_cpus", 1)),
        min_replicas=int(args.get("min_replicas", 1)),
        max_replicas=int(args.get("max_replicas", args.get("min_replicas", 1))),
        target_queue=float(args.get("target_queue", deployment.max_batch)),
    )
    return application(deployment, options)


def _interrupt(_signal: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(
    deployment: Deployment, options: ReplicaOptions, *, address: str | None, host: str, port: int
) -> None:
    """Start (or join) Ray, serve the application on host:port, and stop it all on SIGTERM/^C."""
    import ray

    ray.init(address=address, include_dashboard=False)
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(application(deployment, options), name=f"imagehub-{deployment.name}", route_prefix="/")
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    finally:
        serve.shutdown()
        ray.shutdown()
