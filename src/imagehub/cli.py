"""The `imagehub` command: serve, keys, gc, generate and models."""

from __future__ import annotations

import base64
import os
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
import httpx

from imagehub.accounts.keys import KeyInfo, KeyStore
from imagehub.catalog import load_catalog
from imagehub.cli_accounts import keys, usage, with_keys
from imagehub.config import Settings
from imagehub.deployments import ConfigError, Deployment, load_config
from imagehub.engine.cli import engine
from imagehub.serving import (
    DESCRIPTORS_PER_REQUEST,
    OpenFiles,
    auto_workers,
    cpu_count,
    describe_limits,
    raise_open_file_limit,
    requests_held,
)
from imagehub.storage import FileStore


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

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    open_files = raise_open_file_limit()  # before anything opens files; the workers inherit it
    try:
        config = load_config(load_catalog(), settings.config_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None

    async def bootstrap(keys: KeyStore) -> tuple[KeyInfo, str] | None:
        if await keys.count():
            return None
        return await keys.create("first sandbox key", "sandbox")

    # Migrate once here, before any worker starts, so workers never race on the schema.
    created = with_keys(bootstrap)
    if created is not None:
        _print_first_key(created[1], settings.public_url or f"http://{host}:{port}")
    if workers is None:
        workers, why = auto_workers(os.environ, config.deployments)
    else:
        why = "--workers"
    held = requests_held(open_files.now)
    _print_capacity(f"http://{host}:{port}", workers, why, open_files, held, config.deployments)
    os.environ["IMAGEHUB_LOG_LEVEL"] = log_level
    os.environ["IMAGEHUB_WORKERS"] = str(workers)
    if workers > 1:
        _prepare_workers(settings)
    trusted = settings.trusted_proxies
    uvicorn.run(
        "imagehub.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or "",
        server_header=False,
        access_log=False,  # the hub writes its own JSON access line, with the request id
        backlog=min(65535, max(2048, held)),  # a burst of slow requests must not overflow accept
    )


def _print_capacity(
    url: str, workers: int, why: str, files: OpenFiles, held: int, deployments: Iterable[Deployment]
) -> None:
    """Say what this hub can hold, so an operator never has to discover a cap under load."""
    raised = f"raised from {files.before:,}" if files.now > files.before else "the hard limit"
    cpus = cpu_count()
    advice = "" if workers >= cpus else f"; --workers {cpus} would use all {cpus} CPUs"
    click.echo(
        f"imagehub: serving on {url} with {workers} worker{'s' if workers > 1 else ''} ({why}{advice})\n"
        f"imagehub: can hold {held * workers:,} requests in flight ({held:,} per worker: open-file limit "
        f"{files.now:,}, {raised}; {DESCRIPTORS_PER_REQUEST} per request)\n"
        f"imagehub: deployment limits per worker: {describe_limits(deployments, workers)}",
        err=True,
    )


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
    removed = FileStore(Settings().images_dir).sweep()
    click.echo(f"Removed {removed} expired file(s) from the image store.")


@main.command()
@click.argument("prompt")
@click.option("--model", default=None, help="Model name; the hub's default when omitted.")
@click.option("--n", "n", default=1, show_default=True, type=int)
@click.option("--size", default=None)
@click.option("--quality", default=None)
@click.option("--style", default=None)
@click.option(
    "--out", "out_dir", default=".", show_default=True, type=click.Path(file_okay=False, path_type=Path)
)
@click.option("--base-url", default="http://127.0.0.1:8080", show_default=True, envvar="IMAGEHUB_BASE_URL")
@click.option("--api-key", envvar="IMAGEHUB_API_KEY", required=True, help="Or set IMAGEHUB_API_KEY.")
@click.option("--timeout", default=300.0, show_default=True, type=float)
def generate(
    prompt: str,
    model: str | None,
    n: int,
    size: str | None,
    quality: str | None,
    style: str | None,
    out_dir: Path,
    base_url: str,
    api_key: str,
    timeout: float,
) -> None:
    """Generate images through a running hub and write them to --out."""
    body: dict[str, Any] = {"prompt": prompt, "n": n, "response_format": "b64_json"}
    for name, value in (("model", model), ("size", size), ("quality", quality), ("style", style)):
        if value is not None:
            body[name] = value
    url = base_url.rstrip("/") + "/api/images/generations"
    click.echo(f"Generating {n} image(s) with {model or 'the default model'} via {url} ...", err=True)
    started = time.monotonic()
    try:
        response = httpx.post(url, json=body, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"Could not reach the hub at {base_url}: {exc}") from None
    if response.status_code != 200:
        raise click.ClickException(_error_message(response))
    payload = response.json()
    click.echo(f"Generated in {time.monotonic() - started:.1f}s.", err=True)
    ext = payload.get("output_format", "png")
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    with click.progressbar(payload["data"], label="Writing", file=sys.stderr) as items:
        written = []
        for index, item in enumerate(items, start=1):
            path = out_dir / f"imagehub-{stamp}-{os.getpid()}-{index}.{ext}"
            path.write_bytes(base64.b64decode(item["b64_json"]))
            written.append(path)
    for path in written:
        click.echo(str(path))


@main.group()
def models() -> None:
    """Weights for the local engine (provider "local")."""


@models.command("pull")
@click.argument("model_id")
@click.option("--revision", default=None, help="Branch, tag or commit; the default branch when omitted.")
@click.option(
    "--variant", default=None, help="Fetch this weights variant (e.g. fp16) instead of full precision."
)
def models_pull(model_id: str, revision: str | None, variant: str | None) -> None:
    """Download a diffusers pipeline (e.g. stabilityai/sd-turbo) into the Hugging Face cache.

    The hub itself never downloads: a local deployment with `model_id` loads from this cache only.
    """
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError
    except ImportError:
        raise click.ClickException(
            "Pulling models needs the local engine's libraries: pip install 'imagehub[local]'."
        ) from None
    # The diffusers layout only: configs and safetensors in component folders, never the
    # multi-gigabyte single-file checkpoints many repos also carry at their root.
    weights = f"*/*.{variant}.safetensors" if variant else "*/*.safetensors"
    click.echo(f"Pulling {model_id} from the Hugging Face Hub ...", err=True)
    try:
        folder = snapshot_download(
            model_id,
            revision=revision,
            allow_patterns=["model_index.json", "*/*.json", "*/*.txt", "*/*.model", weights],
            ignore_patterns=None if variant else ["*/*.*.safetensors"],
        )
    except (RepositoryNotFoundError, GatedRepoError, RevisionNotFoundError) as exc:
        raise click.ClickException(f"Cannot pull {model_id}: {exc}") from None
    except Exception as exc:
        raise click.ClickException(
            f"Cannot pull {model_id}: {type(exc).__name__}: {exc}\n"
            "This machine may have no internet access. Pull on one that has it and copy the folder "
            'over, then point the deployment at it with `path = "..."`.'
        ) from None
    name = model_id.rsplit("/", 1)[-1].lower()
    click.echo(
        f"Pulled {model_id} to {folder}\n\n"
        "Serve it with a deployment in the hub's TOML (IMAGEHUB_CONFIG_FILE):\n\n"
        "[[deployments]]\n"
        f'name = "local-{name}"\n'
        'provider = "local"\n'
        f'models = ["{name}"]\n'
        f'model_id = "{model_id}"' + (f'\nvariant = "{variant}"' if variant else "")
    )


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"HTTP {response.status_code}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"
