"""Settings: one object, read from IMAGEHUB_* environment variables.

Everything has an embedded default so `imagehub serve` works on a fresh machine: SQLite and the
image store both live under one data directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration of one hub process."""

    model_config = SettingsConfigDict(env_prefix="IMAGEHUB_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Holds the SQLite file, images and the secret.")
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("IMAGEHUB_DATABASE_URL", "DATABASE_URL"),
        description="postgresql://... or sqlite:///...; defaults to SQLite in data_dir.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("IMAGEHUB_REDIS_URL", "REDIS_URL"),
        description="When set, rate limits are shared through Redis by every hub process.",
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL clients reach the hub at, e.g. https://images.example.com. "
        "When unset, image URLs are built from the request's own scheme and Host.",
    )
    store_url: str | None = Field(
        default=None,
        description="Where images are stored: unset (the segment store under data_dir), file:///PATH, or "
        "s3://BUCKET/PREFIX, a bucket every hub shares (credentials and region: the standard AWS variables).",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="An S3-compatible endpoint (MinIO, R2, GCS interop); unset: AWS S3."
    )
    store_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Most time one store call may take; past it a url request is a 503."
    )
    image_urls: Literal["hub", "presigned"] = Field(
        default="hub",
        description="hub: the hub signs and serves image URLs; presigned: the bucket's own presigned GET "
        "URLs (s3:// only), so image bytes never pass through a hub.",
    )
    image_base_url: str | None = Field(
        default=None,
        description="A CDN (or public bucket) URL in front of the s3:// store: image URLs become "
        "<base>/<key>, unsigned, and the objects go at expiry.",
    )
    signing_secret: str | None = Field(
        default=None,
        description="Hex secret for image URL signatures; set the same on every hub that shares a store "
        "(unset: secret.key in data_dir, created once).",
    )
    allow_unpriced: bool = Field(
        default=False,
        description="Serve models whose price is unknown (`unknown = true` in the price data, no price set "
        "by the operator) to live keys, free; unset, such a request is refused with 403 model_not_priced.",
    )
    url_ttl_seconds: int = Field(default=3600, ge=1, description="How long signed image URLs stay valid.")
    sweep_interval_seconds: float = Field(default=300.0, gt=0, description="How often expired images go.")
    stale_reservation_seconds: float = Field(
        default=1800.0, gt=0, description="A reservation pending this long belongs to a crashed process."
    )
    usage_flush_seconds: float = Field(
        default=0.05, gt=0, description="Usage records of requests that hold no money are batched this long."
    )
    job_workers: int = Field(
        default=4, ge=1, description="Asynchronous jobs (and batch lines) one hub process runs at once."
    )
    job_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A job whose hub stops renewing its lease this long is re-run elsewhere.",
    )
    job_retention_seconds: int = Field(
        default=86_400, ge=1, description="How long a finished job (and its images) can be read back."
    )
    job_poll_seconds: float = Field(default=0.5, gt=0, description="How often an idle worker looks for jobs.")
    webhook_allowlist: str | None = Field(
        default=None,
        description="Like fetch_allowlist, for webhook target URLs: internal hosts or CIDRs they may reach "
        "(e.g. 127.0.0.1 for a receiver on the same machine); unset allows public addresses only.",
    )
    webhook_retry_base_seconds: float = Field(
        default=5.0,
        gt=0,
        description="First retry delay of a failed webhook delivery; later ones grow to 8 h (10 attempts).",
    )
    log_level: str = Field(default="info", description="Level of the hub's JSON logs on stderr.")
    log_format: Literal["json", "text"] = Field(
        default="json", description="json: one object per line with level and logger; text: for a terminal."
    )
    access_log: bool = Field(default=True, description="One JSON line per request (logger imagehub.access).")
    max_body_bytes: int = Field(default=1 << 20, ge=1024, description="Largest JSON request body accepted.")
    max_upload_bytes: int = Field(
        default=64 << 20,
        ge=1 << 20,
        description="Largest body on /images/edits and /images/variations, and the most image bytes one "
        "request may carry in all, uploaded or fetched from URLs.",
    )
    decode_budget_mb: int = Field(
        default=1024,
        ge=16,
        description="Megabytes of pixels one process may hold in image decodes at once (the sandbox's and "
        "the local engine's edits); past it a request is a 503 with Retry-After. Checks never decode.",
    )
    answer_budget_mb: int = Field(
        default=1024,
        ge=16,
        description="Megabytes of upstream answers (images' base64, in memory up to answer_memory_mb, "
        "then in temporary files under data_dir) one hub may hold at once, shared out among its "
        "workers. When it is spent, reading from upstreams pauses and new generations get a 503 "
        "with Retry-After.",
    )
    answer_memory_mb: int = Field(
        default=128,
        ge=0,
        description="Of the answer budget, megabytes one hub keeps in memory (shared out among its "
        "workers; at most 6 MB of one request); answers beyond it wait in temporary files. This, "
        "not the number of requests in flight, bounds the memory answers take.",
    )
    fetch_allowlist: str | None = Field(
        default=None,
        description="Comma-separated hosts (`images.corp`, `*.corp.example`), addresses or CIDRs that image "
        "URLs may reach although they are internal; unset allows public addresses only.",
    )
    fetch_timeout_seconds: float = Field(
        default=20.0, gt=0, description="Most time one image URL may take, redirects and body included."
    )
    config_file: Path | None = Field(
        default=None,
        description="TOML file with [[deployments]] and [routing]; when set, OPENAI_*/GEMINI_* are ignored.",
    )
    workers: int = Field(
        default=1,
        ge=1,
        description="Worker processes serving together (set by `imagehub serve`); they share out "
        "each deployment's max_concurrent.",
    )
    mount_point: str = Field(default="/", description="Path AIGNE clients are told the hub is mounted at.")
    cors_origins: str | None = Field(
        default=None,
        description="Comma-separated origins (https://app.example.com) whose browser apps may call the hub, "
        "or * for any; unset: no CORS headers, so browsers allow same-origin calls only.",
    )
    trusted_proxies: str | None = Field(
        default=None,
        description="Comma-separated proxy IPs whose X-Forwarded-* headers are honoured; unset trusts none.",
    )

    @field_validator("public_url", "image_base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("signing_secret")
    @classmethod
    def _secret_is_hex(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            secret = bytes.fromhex(value.strip())
        except ValueError:
            raise ValueError("IMAGEHUB_SIGNING_SECRET must be hex (e.g. `openssl rand -hex 32`)") from None
        if len(secret) < 16:
            raise ValueError("IMAGEHUB_SIGNING_SECRET must be at least 16 bytes (32 hex digits)")
        return value.strip()

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def secret_path(self) -> Path:
        return self.data_dir / "secret.key"

    @property
    def effective_database_url(self) -> str:
        """The URL with an async driver: plain postgresql:// and sqlite:/// URLs work as given."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'imagehub.db').resolve()}"
        for plain, async_driver in (
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if url.startswith(plain):
                return async_driver + url[len(plain) :]
        return url
