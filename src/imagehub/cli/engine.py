"""`imagehub engine serve | ray`: the GPU tier's commands. Heavy imports wait for the command."""

from __future__ import annotations

import os
from pathlib import Path

import click

from imagehub.upstream.deployments import ConfigError, Deployment

CONFIG = click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="IMAGEHUB_CONFIG_FILE",
    required=True,
    help="A TOML file with the local deployment to serve (the hub's format). Or IMAGEHUB_CONFIG_FILE.",
)
DEPLOYMENT = click.option(
    "--deployment", default=None, help="Which local deployment, if the file has several."
)


def _deployment(config_file: Path, name: str | None, device: str | None = None) -> Deployment:
    from imagehub.engine.config import engine_deployment

    try:
        return engine_deployment(config_file, name, device)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def engine() -> None:
    """The local engine as its own server: one model per process, reached by hubs over HTTP."""


@engine.command("serve")
@CONFIG
@DEPLOYMENT
@click.option(
    "--device", default=None, help="Pin to this device (cpu, cuda, cuda:1, mps); default: the file's."
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9000, show_default=True, type=int)
@click.option("--log-level", default="info", show_default=True)
def serve(
    config_file: Path, deployment: str | None, device: str | None, host: str, port: int, log_level: str
) -> None:
    """Serve one model on one device. /healthz at once; /readyz once weights and warm-up are done."""
    import uvicorn

    from imagehub.engine.app import create_engine_app
    from imagehub.engine.runtime import EngineRuntime
    from imagehub.observability.logs import configure_logging

    chosen = _deployment(config_file, deployment, device)
    configure_logging(log_level, access_log=False)
    runtime = EngineRuntime(chosen)
    server = uvicorn.Server(
        uvicorn.Config(
            create_engine_app(runtime),
            host=host,
            port=port,
            log_level=log_level,
            access_log=False,
            server_header=False,
            log_config=None,
        )
    )

    def stop() -> None:
        server.should_exit = True

    runtime.on_failure = stop
    click.echo(
        f"imagehub engine: {chosen.models[0]} ({chosen.name}) on {chosen.device}, serving on "
        f"http://{host}:{port}/v1; batches of up to {chosen.max_batch}, {chosen.queue_size} may wait",
        err=True,
    )
    server.run()
    if runtime.error:
        raise click.ClickException(f"the engine could not load its model: {runtime.error}")


@engine.command("ray")
@CONFIG
@DEPLOYMENT
@click.option(
    "--address", default=None, help="A Ray cluster to join (e.g. auto); default: start a local one."
)
@click.option("--num-gpus", default=1.0, show_default=True, type=float, help="GPUs per replica (0: CPU).")
@click.option("--num-cpus", default=1.0, show_default=True, type=float, help="CPUs per replica.")
@click.option("--min-replicas", default=1, show_default=True, type=int)
@click.option("--max-replicas", default=1, show_default=True, type=int, help="Up to one per GPU.")
@click.option(
    "--target-queue",
    default=None,
    type=float,
    help="Requests per replica the autoscaler aims for; default: the deployment's max_batch.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9000, show_default=True, type=int)
def ray(
    config_file: Path,
    deployment: str | None,
    address: str | None,
    num_gpus: float,
    num_cpus: float,
    min_replicas: int,
    max_replicas: int,
    target_queue: float | None,
    host: str,
    port: int,
) -> None:
    """Serve the model as a Ray Serve application: one replica per GPU, autoscaled on queue length."""
    try:
        from imagehub.engine.ray_app import ReplicaOptions, run
    except ImportError:
        raise click.ClickException("Ray Serve is not installed: pip install 'imagehub[ray]'.") from None
    chosen = _deployment(config_file, deployment)
    options = ReplicaOptions(
        num_gpus=num_gpus,
        num_cpus=num_cpus,
        min_replicas=min_replicas,
        max_replicas=max(min_replicas, max_replicas),
        target_queue=target_queue or float(chosen.max_batch),
    )
    click.echo(
        f"imagehub engine: {chosen.models[0]} on Ray Serve, {options.min_replicas}-{options.max_replicas} "
        f"replica(s) of {num_gpus:g} GPU, serving on http://{host}:{port}/v1 (pid {os.getpid()})",
        err=True,
    )
    run(chosen, options, address=address, host=host, port=port)
