"""The root `imagehub` group, with `serve` and `gc`; the other groups are joined here."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
from collections.abc import Iterable
from typing import Any

import click

from imagehub.accounts.keys import KeyInfo, KeyStore
from imagehub.catalog import CatalogFileError, load_catalog
from imagehub.cli.accounts import keys, usage, with_keys
from imagehub.cli.batches import batch, jobs
from imagehub.cli.engine import engine
from imagehub.cli.generate import generate
from imagehub.cli.models import models
from imagehub.cli.preflight import StartupError, check_port, check_store, load_settings
from imagehub.cli.startup_report import report_configuration
from imagehub.config import Settings
from imagehub.observability.logs import configure_logging, uvicorn_log_config
from imagehub.supervisor import APP as SUPERVISED_APP
from imagehub.upstream.capacity import (
    DESCRIPTORS_PER_REQUEST,
    OpenFiles,
    auto_workers,
    cpu_count,
    describe_limits,
    raise_open_file_limit,
    requests_held,
)
from imagehub.upstream.deployments import ConfigError, Deployment, load_config


@click.group()
@click.version_option(package_name="imagehub")
def main() -> None:
    """imagehub: one OpenAI-compatible API in front of every image model."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=1),
    help="Worker processes. Default: one per CPU when REDIS_URL is set and no local engine is "
    "configured, else 1; the start message says which and why.",
)
@click.option("--log-level", default="info", show_default=True)
def serve(host: str, port: int, workers: int | None, log_level: str) -> None:
    """Start the hub. On first start, create a sandbox key and print it once."""
    import uvicorn

    settings = load_settings()
    try:
        catalog = load_catalog()
    except CatalogFileError as exc:  # one line naming the file and the fault, never a traceback
        click.echo(f"Error: IMAGEHUB_CATALOG_FILE {exc}", err=True)
        sys.exit(2)
    try:
        config = load_config(catalog, settings.config_file)
    except ConfigError as exc:
        raise StartupError(str(exc)) from None
    check_store(settings)
    check_port(host, port)  # before "serving on ...", and before a worker fails on it
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    open_files = raise_open_file_limit()  # before anything opens files; the workers inherit it

    async def bootstrap(keys: KeyStore) -> tuple[KeyInfo, str] | None:
        if await keys.count():
            return None
        return await keys.create("first sandbox key", "sandbox")

    # Migrate once here, before any worker starts, so workers never race on the schema.
    created = with_keys(bootstrap, announce=False)  # report_configuration says where
    if created is not None:
        _print_first_key(created[1], settings.public_url or f"http://{host}:{port}")
    if workers is None:
        workers, why = auto_workers(os.environ, config.deployments)
    else:
        why = "--workers"
    held = requests_held(open_files.now)
    os.environ["IMAGEHUB_LOG_LEVEL"] = log_level
    os.environ["IMAGEHUB_WORKERS"] = str(workers)
    configure_logging(log_level, settings.access_log, settings.log_format)
    _report_capacity(f"http://{host}:{port}", workers, why, open_files, held, config.deployments)
    report_configuration(settings, host)
    if created is None:
        _hint_another_key()
    if workers > 1:
        _prepare_workers(settings)
    trusted = settings.trusted_proxies
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "workers": workers,
        "log_level": log_level,
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or "",
        "server_header": False,
        "access_log": False,  # the hub writes its own JSON access line, with the request id
        "backlog": min(65535, max(2048, held)),  # a burst of slow requests must not overflow accept
        "log_config": uvicorn_log_config(log_level, settings.log_format),
    }
    if workers > 1:  # a lean supervisor in this process's place: see imagehub/supervisor
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, "-m", "imagehub.supervisor", json.dumps(options)])
    uvicorn.run(SUPERVISED_APP, factory=True, **options)


def _report_capacity(
    url: str, workers: int, why: str, files: OpenFiles, held: int, deployments: Iterable[Deployment]
) -> None:
    """Say what this hub can hold, so an operator never has to discover a cap under load.

    Log lines like every other (JSON by default), said whatever `--log-level` is.
    """
    raised = f"raised from {files.before:,}" if files.now > files.before else "the hard limit"
    cpus = cpu_count()
    advice = "" if workers >= cpus else f"; --workers {cpus} would use all {cpus} CPUs"
    log = logging.getLogger("imagehub.serve.capacity")
    log.setLevel(logging.INFO)
    log.info(f"serving on {url} with {workers} worker{'s' if workers > 1 else ''} ({why}{advice})")
    log.info(
        f"can hold {held * workers:,} requests in flight ({held:,} per worker: open-file limit "
        f"{files.now:,}, {raised}; {DESCRIPTORS_PER_REQUEST} per request)"
    )
    log.info(f"deployment limits per worker: {describe_limits(deployments, workers)}")


def _prepare_workers(settings: Settings) -> None:
    """State shared by several worker processes: metrics in a directory, limits in Redis."""
    metrics_dir = settings.data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    if not settings.redis_url:
        click.echo(
            "warning: with several workers and no REDIS_URL, each worker enforces rate and concurrency "
            "limits on its own (a key's limit is effectively multiplied). Set REDIS_URL to share them.",
            err=True,
        )


def _hint_another_key() -> None:
    """A restart shows no key (each is shown once, when made): say how to make another."""
    log = logging.getLogger("imagehub.serve.keys")
    log.setLevel(logging.INFO)  # said whatever --log-level is, like the capacity lines
    log.info(
        "keys already exist (a key is shown only when it is made); another sandbox key: "
        'imagehub keys create --name NAME --sandbox (make cli ARGS="keys create --name NAME --sandbox")'
    )


def _print_first_key(secret: str, base_url: str) -> None:
    click.echo(
        "\nCreated a sandbox API key. It is shown only this once; keep it:\n\n"
        f"    {secret}\n\n"
        "Sandbox keys are served by the built-in offline renderer. Try it:\n\n"
        f"curl {base_url}/api/images/generations \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -H 'Authorization: Bearer {secret}' \\\n"
        '  -d \'{"prompt": "A photorealistic image of a cat programming on a laptop", '
        '"n": 1, "size": "1024x1024"}\'\n'
    )


main.add_command(keys)
main.add_command(usage)
main.add_command(engine)


@main.command()
def gc() -> None:
    """Delete expired images from the store now (the server also sweeps on its own)."""
    removed = asyncio.run(_sweep_now(Settings()))
    if removed is None:
        click.echo("Another hub is sweeping the shared image store right now; nothing done.")
    else:
        click.echo(f"Removed {removed} expired file(s) from the image store.")


async def _sweep_now(settings: Settings) -> int | None:
    """One sweep, under the same lock as the hubs' own sweepers when the store is shared."""
    from imagehub.accounts.db import create_engine
    from imagehub.storage.factory import open_store
    from imagehub.storage.sweeping import sweep_expired, sweep_lock_for

    store = open_store(settings)
    engine = create_engine(settings.effective_database_url)
    try:
        return await sweep_expired(store, sweep_lock_for(engine, settings.data_dir / "sweep.lock"))
    finally:
        await store.close()
        await engine.dispose()


main.add_command(generate)
main.add_command(batch)
main.add_command(jobs)


main.add_command(models)
