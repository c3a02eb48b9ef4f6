"""Which local deployment an engine serves: picked from a hub-style TOML file.

An engine reuses the hub's configuration format, so a `provider = "local"` deployment moves from
the hub to its own GPU box unchanged. With several local deployments in the file, `--deployment`
names the one this process serves; `--device` pins it to a device without editing the file.
"""

from __future__ import annotations

from pathlib import Path

from imagehub.catalog import load_catalog
from imagehub.upstream.deployments import ConfigError, Deployment, load_config


def engine_deployment(path: Path, name: str | None = None, device: str | None = None) -> Deployment:
    config = load_config(load_catalog(), path, environ={})
    local = [d for d in config.deployments if d.provider == "local"]
    if name is not None:
        local = [d for d in local if d.name == name]
    if not local:
        which = f" named {name!r}" if name else ""
        raise ConfigError(f'{path} has no provider = "local" deployment{which} for the engine to serve')
    if len(local) > 1:
        names = ", ".join(d.name for d in local)
        raise ConfigError(f"{path} has several local deployments ({names}); pick one with --deployment")
    deployment = local[0]
    if device is not None:
        fields = {**deployment.model_dump(exclude_unset=True), "models": deployment.models, "device": device}
        deployment = Deployment.model_validate(fields)
    return deployment
