"""Which upstream accounts serve which models: from environment variables or a TOML file.

The common case needs no file: `OPENAI_API_KEY` (and optionally `OPENAI_BASE_URL`) gives one
OpenAI deployment serving every OpenAI model in the catalog, `GEMINI_API_KEY` one Google
deployment. A TOML file (`IMAGEHUB_CONFIG_FILE`) describes several deployments per model with
weights, and routing knobs; when a file is given, it is the whole truth. Local models (provider
"local") exist only in the file: each such deployment names its one model and where its weights are.
An engine deployment (provider "engine") reaches one such model served by `imagehub engine serve`
or Ray Serve over HTTP: it names its one model and the engine's `base_url`.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from imagehub.billing.pricing import BillingConfig
from imagehub.catalog import Catalog
from imagehub.catalog.platforms import platform
from imagehub.upstream.platform_fields import PlatformFields
from imagehub.upstream.registry import PROVIDERS, Requirement

PROVIDER_KINDS = tuple(PROVIDERS)
# Providers one environment variable can configure (a key alone gives a deployment).
REMOTE_KINDS = tuple(name for name, entry in PROVIDERS.items() if entry.key_env)
QualityPreset = Literal["low", "medium", "high"]
DEFAULT_QUALITY_STEPS: dict[QualityPreset, int] = {"low": 1, "medium": 2, "high": 4}
DEFAULT_BASE_URLS = {name: entry.base_url for name, entry in PROVIDERS.items() if entry.base_url}
# The variables that give one deployment serving every catalog model of that provider.
ENVIRONMENT_KEYS = {
    name: (entry.key_env, entry.base_url_env or f"{name.upper()}_BASE_URL")
    for name, entry in PROVIDERS.items()
    if entry.key_env
}


def how_to_configure(model: str, providers: tuple[str, ...]) -> str:
    """One sentence an operator can act on to make `model` servable."""
    ways = [f"set {ENVIRONMENT_KEYS[kind][0]}" for kind in providers if kind in ENVIRONMENT_KEYS]
    ways.append(
        f'add a [[deployments]] entry with provider = "{providers[0]}" and models = ["{model}"] '
        "to the file in IMAGEHUB_CONFIG_FILE"
    )
    return "To serve it, the operator can " + ", or ".join(ways) + "."


class ConfigError(ValueError):
    """The operator's configuration cannot work; raised at start-up, never mid-request."""


class LocalEngineFields(BaseModel):
    """What only a `local` deployment reads: where its weights are and how to run them."""

    path: str | None = Field(default=None, description="A diffusers pipeline folder on disk.")
    model_id: str | None = Field(
        default=None,
        description="A Hugging Face id, loaded from the local cache only (`imagehub models pull`).",
    )
    variant: str | None = Field(default=None, description="Weights variant, e.g. fp16.")
    device: str = Field(default="cpu", pattern=r"^(cpu|cuda(:[0-9]+)?|mps)$")
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    steps: int = Field(default=1, ge=1, le=200, description="Denoising steps for quality auto.")
    quality_steps: dict[QualityPreset, int] = Field(
        default_factory=lambda: dict(DEFAULT_QUALITY_STEPS), description="Steps per quality preset."
    )
    guidance: float = Field(
        default=0.0, ge=0, le=50, description="Classifier-free guidance; 0 for turbo models."
    )
    strength: float = Field(
        default=0.5, gt=0, le=1, description="How far an edit may depart from its source."
    )
    scheduler: str | None = Field(
        default=None, description="A diffusers scheduler class name, e.g. LCMScheduler."
    )
    max_batch: int = Field(default=8, ge=1, le=64, description="Most images merged into one pipeline call.")
    max_wait_ms: float = Field(default=5.0, ge=0, le=1000, description="How long a batch waits to fill.")
    queue_size: int = Field(default=64, ge=1, le=100_000, description="Requests waiting; beyond this, 503.")

    @field_validator("quality_steps")
    @classmethod
    def _fill_presets(cls, value: dict[QualityPreset, int]) -> dict[QualityPreset, int]:
        if any(steps < 1 for steps in value.values()):
            raise ValueError("every preset needs at least 1 step")
        return {**DEFAULT_QUALITY_STEPS, **value}


LOCAL_FIELDS = frozenset(LocalEngineFields.model_fields)
PLATFORM_FIELDS = frozenset(PlatformFields.model_fields)


class Deployment(PlatformFields, LocalEngineFields):
    """One upstream account or box: provider API + base URL + credential + the models it serves.

    A `local` deployment is the hub's own engine instead: the local fields say what it loads.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    provider: str
    base_url: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    api_key_env: str | None = None
    models: tuple[str, ...] = ()
    catalog_models: bool = Field(
        default=False,
        description="Set by the hub when `models` was left out: every catalog model of the provider, "
        "each served only until its shutdown date. Models listed by name are served past it.",
    )
    weight: float = Field(default=1.0, gt=0)
    timeout_seconds: float = Field(default=120.0, gt=0)
    max_concurrent: int | None = Field(
        default=None,
        ge=1,
        validation_alias=AliasChoices("max_concurrent", "max_connections"),
        description="Most calls in flight to this deployment (shared out among workers); None: no limit.",
    )
    queue_timeout_seconds: float = Field(
        default=10.0, ge=0, description="How long a request waits for a free slot before a 503."
    )
    poll_seconds: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="engine: how often its /readyz is read for health and load; polling vendors (bfl, fal, "
        "replicate, dashscope): the longest wait between two polls of a job.",
    )
    prices: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description='What this deployment charges where it differs from the catalog: model -> "quality/size" '
        "-> micro-USD per image (a cloud reselling a model at its own price).",
    )

    @model_validator(mode="after")
    def _known_provider(self) -> Deployment:
        if self.provider not in PROVIDER_KINDS:
            raise ValueError(f"provider must be one of {', '.join(PROVIDER_KINDS)}")
        if self.provider == "local":
            if (self.path is None) == (self.model_id is None):
                raise ValueError("a local deployment needs exactly one of path and model_id")
            if len(self.models) != 1:
                raise ValueError('a local deployment serves exactly one model: set models = ["NAME"]')
        elif self.provider == "engine":
            if self.base_url is None:
                raise ValueError('an engine deployment needs base_url = "http://HOST:PORT"')
            if len(self.models) != 1:
                raise ValueError('an engine deployment serves exactly one model: set models = ["NAME"]')
        misplaced = self.model_fields_set & PLATFORM_FIELDS - PROVIDERS[self.provider].settings
        if misplaced:
            raise ValueError(f"{', '.join(sorted(misplaced))}: not a setting of provider = {self.provider!r}")
        if "poll_seconds" in self.model_fields_set and not (
            self.provider == "engine" or PROVIDERS[self.provider].polls
        ):
            polling = ", ".join(f'"{name}"' for name, entry in PROVIDERS.items() if entry.polls)
            raise ValueError(f'poll_seconds: only for provider = "engine" or a polling vendor ({polling})')
        if self.provider != "local" and self.model_fields_set & LOCAL_FIELDS:
            fields = ", ".join(sorted(self.model_fields_set & LOCAL_FIELDS))
            raise ValueError(f'{fields}: only for provider = "local"')
        return self

    @property
    def url(self) -> str:
        """The API's address; "" where the adapter derives it (a cloud's region or location)."""
        return (self.base_url or DEFAULT_BASE_URLS.get(self.provider) or "").rstrip("/")

    @property
    def needs_key(self) -> bool:
        """Whether calls need an API key; clouds signing with their own credential chain do not."""
        entry = PROVIDERS[self.provider]
        return entry.key_env is not None and not entry.keyless and self.auth != "entra"

    @property
    def max_connections(self) -> int:
        """The connection pool's own cap: none (0). A pool cap queued requests silently and
        without bound; the router enforces `max_concurrent` instead, with a bounded wait and a 503."""
        return 0

    @property
    def key_variable(self) -> str | None:
        """The variable the key is read from: api_key_env, else (vendors) the customary one."""
        entry = PROVIDERS[self.provider]
        return self.api_key_env or (entry.key_env if entry.key_env_default else None)

    def credential(self, environ: Mapping[str, str]) -> str | None:
        """The key: api_key, else the variable `key_variable` names."""
        if self.api_key:
            return self.api_key
        variable = self.key_variable
        return environ.get(variable) if variable else None


class RoutingPolicy(BaseModel):
    """Retries, backoff and cooldown: how hard to try before telling the client."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_retries: int = Field(default=2, ge=0, le=10, description="Extra attempts per deployment.")
    backoff_base_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=8.0, ge=0)
    max_retry_after_seconds: float = Field(
        default=30.0, ge=0, description="A longer Retry-After means: fall over instead of waiting."
    )
    failure_threshold: int = Field(
        default=3, ge=1, description="Consecutive failed requests (each after its retries) before cooldown."
    )
    cooldown_seconds: float = Field(default=30.0, gt=0)
    max_cooldown_seconds: float = Field(default=300.0, gt=0)


class HubConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    deployments: tuple[Deployment, ...] = ()
    routing: RoutingPolicy = RoutingPolicy()
    billing: BillingConfig = BillingConfig()


def _from_environment(catalog: Catalog, environ: Mapping[str, str]) -> tuple[Deployment, ...]:
    found = []
    for kind, (key_var, url_var) in ENVIRONMENT_KEYS.items():
        if environ.get(key_var) or environ.get(url_var):
            models = tuple(spec.name for spec in catalog if kind in spec.providers)
            found.append(
                Deployment(
                    name=kind,
                    provider=kind,
                    base_url=environ.get(url_var) or None,
                    api_key_env=key_var,
                    models=models,
                    catalog_models=True,
                )
            )
    return tuple(found)


#: Per-deployment limits an operator may set from the environment, by variable suffix.
LIMIT_VARIABLES = {"MAX_CONCURRENT": "max_concurrent", "QUEUE_TIMEOUT_SECONDS": "queue_timeout_seconds"}


def limit_variable(deployment: str, suffix: str) -> str:
    """`IMAGEHUB_DEPLOYMENT_<NAME>_<SUFFIX>`, the name upper-cased with `.` and `-` as `_`."""
    return f"IMAGEHUB_DEPLOYMENT_{re.sub(r'[^A-Za-z0-9]', '_', deployment).upper()}_{suffix}"


def _limits_from_environment(config: HubConfig, environ: Mapping[str, str]) -> HubConfig:
    """Apply IMAGEHUB_DEPLOYMENT_<NAME>_MAX_CONCURRENT / _QUEUE_TIMEOUT_SECONDS over env or TOML.

    Limits are what an operator tunes per environment (staging, production) without a file,
    and the common case has no file at all. `0` or `none` clears a limit.
    """
    deployments = []
    for deployment in config.deployments:
        updates: dict[str, object] = {}
        for suffix, field in LIMIT_VARIABLES.items():
            raw = environ.get(limit_variable(deployment.name, suffix), "").strip()
            if raw:
                none = field == "max_concurrent" and raw.lower() in ("0", "none", "unlimited")
                updates[field] = None if none else raw
        if updates:
            try:
                deployment = Deployment.model_validate(
                    {**deployment.model_dump(exclude_unset=True), **updates}
                )
            except ValidationError as exc:
                names = ", ".join(limit_variable(deployment.name, s) for s in LIMIT_VARIABLES)
                raise ConfigError(f"invalid deployment limit in {names}:\n{exc}") from exc
        deployments.append(deployment)
    return config.model_copy(update={"deployments": tuple(deployments)})


def _check_models(config: HubConfig, catalog: Catalog) -> HubConfig:
    """Every model known and served by the deployment's API; aliases become the models they name."""
    names = set()
    deployments = []
    for deployment in config.deployments:
        if deployment.name in names:
            raise ConfigError(f"deployment name {deployment.name!r} is used twice")
        names.add(deployment.name)
        entry = PROVIDERS[deployment.provider]
        if entry.key_env and not entry.keyless and not deployment.url:
            where = f" (or {entry.base_url_env})" if entry.base_url_env else ""
            raise ConfigError(
                f"deployment {deployment.name!r}: provider {deployment.provider!r} needs base_url{where}"
            )
        models = []
        for model in deployment.models:
            found = catalog.lookup(model) if "/" not in model else None
            if found is None:
                raise ConfigError(f"deployment {deployment.name!r}: unknown model {model!r}")
            api = PROVIDERS[deployment.provider].models_family
            retired = platform(api).retired.get(found.spec.name)
            if retired is not None:
                instead = f"; use {retired.successor}" if retired.successor else ""
                raise ConfigError(
                    f"deployment {deployment.name!r}: {found.spec.name} was retired on {deployment.provider} "
                    f"on {retired.shutdown.isoformat()}{instead}"
                )
            if api not in found.spec.providers:
                raise ConfigError(
                    f"deployment {deployment.name!r}: {model} is not served by the {deployment.provider} API"
                )
            models.append(found.spec.name)
        unpriced = set(deployment.prices) - set(models)
        if unpriced:
            raise ConfigError(
                f"deployment {deployment.name!r}: prices for {', '.join(sorted(unpriced))}, "
                "which it does not serve"
            )
        deployments.append(deployment.model_copy(update={"models": tuple(dict.fromkeys(models))}))
    return config.model_copy(update={"deployments": tuple(deployments)})


def _missing(deployment: Deployment, need: Requirement, environ: Mapping[str, str]) -> str | None:
    """Why `need` is not met, or None: the field, a variable, or the credentials file gives it."""
    if getattr(deployment, need.setting) or any(environ.get(v) for v in need.variables):
        return None
    where = " or ".join((need.setting, *need.variables))
    if need.key_file is None or need.key_file_field is None:
        return f"needs {where}"
    field, variable = need.key_file
    key_file = getattr(deployment, field) or environ.get(variable)
    if not key_file:
        return None  # Application Default Credentials may name it; the first call will say
    try:
        found = json.loads(Path(key_file).read_text(encoding="utf-8")).get(need.key_file_field)
    except (OSError, ValueError, AttributeError) as exc:
        return f"cannot read the credentials file {key_file} ({type(exc).__name__})"
    return None if found else f"needs {where}: the credentials file {key_file} names no {need.key_file_field}"


def _check_platforms(config: HubConfig, environ: Mapping[str, str]) -> None:
    """Refuse at start-up what would fail every call: a cloud's missing region, project or key."""
    for deployment in config.deployments:
        for need in PROVIDERS[deployment.provider].required:
            problem = _missing(deployment, need, environ)
            if problem:
                raise ConfigError(
                    f"deployment {deployment.name!r} (provider {deployment.provider!r}) {problem}"
                )
        if deployment.auth == "api_key" and not deployment.credential(environ):
            variable = deployment.key_variable or "api_key_env"
            raise ConfigError(
                f"deployment {deployment.name!r}: auth = 'api_key' but no key is set ({variable})"
            )


def load_config(catalog: Catalog, path: Path | None, environ: Mapping[str, str] | None = None) -> HubConfig:
    """Read the TOML file if given, else derive deployments from the environment."""
    environ = os.environ if environ is None else environ
    if path is None:
        config = HubConfig(deployments=_from_environment(catalog, environ))
    else:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
            deployments = []
            for entry in raw.get("deployments", []):
                if "models" not in entry and entry.get("upstream_names"):
                    entry = {**entry, "models": list(entry["upstream_names"])}
                elif "models" not in entry and entry.get("provider") in REMOTE_KINDS:
                    models = [s.name for s in catalog if entry["provider"] in s.providers]
                    entry = {**entry, "models": models, "catalog_models": True}
                deployments.append(entry)
            config = HubConfig.model_validate({**raw, "deployments": deployments})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
        except ValidationError as exc:
            raise ConfigError(f"invalid configuration in {path}:\n{exc}") from exc
    config = _limits_from_environment(_check_models(config, catalog), environ)
    _check_platforms(config, environ)
    return config
