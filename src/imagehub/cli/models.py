"""`imagehub models`: weights for the local engine (`pull`) and the catalog against upstreams (`check`)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import click

from imagehub.catalog import Catalog, CatalogFileError, load_catalog, today
from imagehub.catalog.drift import Drift, drift, platform_drift
from imagehub.catalog.platforms import platform
from imagehub.config import Settings
from imagehub.upstream.deployments import ConfigError, Deployment, load_config
from imagehub.upstream.listing import FAMILY_LISTS, LISTABLE, Listing, list_upstream_models
from imagehub.upstream.providers.errors import ProviderError
from imagehub.upstream.registry import PROVIDERS


@click.group()
def models() -> None:
    """Local engine weights, and the model catalog checked against the upstreams' own lists."""


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


async def _read(deployment: Deployment) -> tuple[Listing | None, str | None]:
    """What the upstream lists, or why it could not be read (never a credential)."""
    try:
        return await list_upstream_models(deployment, os.environ), None
    except ProviderError as error:
        return None, error.message
    except ConfigError as error:
        return None, str(error)


def _compare(catalog: Catalog, deployment: Deployment, listing: Listing, on: Any) -> Drift:
    if listing.ids is None:  # OpenAI, Gemini: the whole catalog family
        family = PROVIDERS[deployment.provider].models_family
        pairs = [(item.name, item.shutdown_date) for item in listing.models]
        return drift(catalog, family, deployment.provider, pairs, on)
    triples = [(item.name, item.shutdown_date, item.image) for item in listing.models]
    return platform_drift(catalog, platform(deployment.provider), listing.ids, triples, on)


def _say(name: str, url: str, found: Drift | None, error: str | None) -> None:
    click.echo(f"{name} ({url}):")
    if error is not None:
        click.echo(f"  could not read its model list: {error}")
        return
    assert found is not None
    if not found.any:
        click.echo("  no drift")
    if found.unknown:
        click.echo(f"  listed upstream, missing from the catalog: {', '.join(found.unknown)}")
    if found.unlisted:
        click.echo(f"  in the catalog as live, no longer listed upstream: {', '.join(found.unlisted)}")
    for item in found.dates:
        ours = item.catalog.isoformat() if item.catalog else "none"
        theirs = item.upstream.isoformat() if item.upstream else "none (still listed)"
        click.echo(f"  shutdown date of {item.model}: catalog {ours}, upstream {theirs}")


@models.command("check")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout, for cron and CI.")
def models_check(as_json: bool) -> None:
    """Compare the catalog with every configured upstream's model list; exit 1 on drift.

    Reads OpenAI's GET /v1/models (with shutdown_date), Gemini's models.list, and for each cloud
    deployment its platform's list (Azure OpenAI's v1 models, Vertex AI's publisher models,
    Bedrock's ListFoundationModels) with that deployment's own credentials. Exit 0: no drift;
    1: drift; 2: a list could not be read or the configuration is broken.
    """
    settings = Settings()
    try:
        catalog = load_catalog()
        config = load_config(catalog, settings.config_file)
    except (CatalogFileError, ConfigError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    on = today()
    seen: set[tuple[str, str, str]] = set()
    report: list[dict[str, Any]] = []
    drifted = failed = False
    for deployment in config.deployments:
        # One check per OpenAI or Gemini account; a cloud deployment is its own (what it maps).
        own = "" if deployment.provider in FAMILY_LISTS else deployment.name
        once = (deployment.provider, deployment.url, own)
        if deployment.provider not in LISTABLE or once in seen:
            continue
        seen.add(once)
        listing, error = asyncio.run(_read(deployment))
        found = _compare(catalog, deployment, listing, on) if listing is not None else None
        url = listing.where if listing is not None else deployment.url
        drifted |= bool(found and found.any)
        failed |= error is not None
        entry: dict[str, Any] = {"deployment": deployment.name, "provider": deployment.provider}
        entry.update({"url": url, "error": error, **(found.public() if found else {})})
        report.append(entry)
        if not as_json:
            _say(deployment.name, url, found, error)
    if as_json:
        click.echo(json.dumps({"date": on.isoformat(), "drift": drifted, "upstreams": report}, indent=2))
    elif not report:
        click.echo(
            "No OpenAI, Gemini, Azure OpenAI, Vertex AI or Bedrock deployment is configured: "
            "nothing to check."
        )
    sys.exit(1 if drifted else 2 if failed else 0)
