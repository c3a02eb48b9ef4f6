"""What `imagehub serve` says at start: the providers and models it configured, and what to fix.

Secrets never appear: a deployment is named by its name, provider, base URL and models, and
whether it has a credential. Lines go through logging, so they are JSON when the logs are.
"""

from __future__ import annotations

import ipaddress
import logging
import os

from sqlalchemy.engine import make_url

from imagehub.catalog import load_catalog
from imagehub.config import Settings
from imagehub.upstream.deployments import ConfigError, load_config

log = logging.getLogger("imagehub.serve")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def report_configuration(settings: Settings, host: str) -> None:
    """Log one line per deployment, the sandbox's models, and warnings an operator should act on."""
    catalog = load_catalog()
    try:
        config = load_config(catalog, settings.config_file)
    except ConfigError:
        return  # the app's start-up reports it, with the details, and stops
    source = str(settings.config_file) if settings.config_file else "environment"
    log.info(
        "data directory %s; database %s",
        settings.data_dir.resolve(),
        make_url(settings.effective_database_url).render_as_string(hide_password=True),
    )
    for deployment in config.deployments:
        remote = deployment.provider != "local"
        has_credential = bool(deployment.credential(os.environ)) if deployment.needs_key else True
        log.info(
            "deployment %s (%s) serves %s",
            deployment.name,
            deployment.provider,
            ", ".join(deployment.models),
            extra={
                "deployment": deployment.name,
                "provider": deployment.provider,
                "base_url": (deployment.url or None) if remote else None,
                "models": list(deployment.models),
                "credential": "set" if has_credential else "missing",
                "config_source": source,
            },
        )
        if not has_credential:
            log.warning(
                "deployment %s has no API key (%s is unset): its upstream will refuse every request",
                deployment.name,
                deployment.key_variable or "api_key",
                extra={"deployment": deployment.name},
            )
    if not config.deployments:
        log.warning(
            "no provider configured: live keys get 403 model_not_available; sandbox keys work. "
            "Set OPENAI_API_KEY or GEMINI_API_KEY, or IMAGEHUB_CONFIG_FILE (README: Going live)",
            extra={"config_source": source},
        )
    log.info(
        "sandbox keys are served offline by the built-in renderer for every catalog model",
        extra={"models": catalog.names()},
    )
    if not settings.public_url and not is_loopback(host):
        log.warning(
            "IMAGEHUB_PUBLIC_URL is unset while serving on %s: image URLs are built from each request's "
            "Host header, which clients control. Set it to the address clients reach the hub at, "
            "e.g. https://images.example.com",
            host,
        )
