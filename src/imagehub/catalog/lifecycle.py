"""A model's lifecycle as data: released, deprecated, shut down, succeeded by; per provider.

Dates are compared with `today()` when a request arrives, never baked in at start-up, so a
shutdown takes effect on its day without a release. `IMAGEHUB_TODAY` (YYYY-MM-DD) moves "today"
for tests and rehearsals; nothing else should set it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

TODAY_VARIABLE = "IMAGEHUB_TODAY"


def today() -> date:
    """The date lifecycle decisions use: UTC today, or IMAGEHUB_TODAY when set."""
    forced = os.environ.get(TODAY_VARIABLE, "").strip()
    if forced:
        return date.fromisoformat(forced)
    return datetime.now(UTC).date()


@dataclass(frozen=True, slots=True)
class ProviderDates:
    """Where one provider's dates differ from the model's own (Azure retired dall-e-3 early)."""

    deprecated: date | None = None
    shutdown_date: date | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """When a name was released, announced for shutdown, shut down, and who serves it after.

    `quality_map` and `style_prompt` are the rule for serving the old contract on a successor:
    a quality the successor lacks becomes the mapped one; a style becomes words added to the
    prompt (GPT image models take no `style`); a variation becomes an edit with
    `variation_prompt` where the successor makes no variations.
    """

    released: date | None = None
    deprecated: date | None = None
    shutdown_date: date | None = None
    successor: str | None = None
    source: str | None = None
    providers: Mapping[str, ProviderDates] = field(default_factory=dict)
    quality_map: Mapping[str, str] = field(default_factory=dict)
    style_prompt: Mapping[str, str] = field(default_factory=dict)
    # A variation asked of a model whose successor makes none becomes an edit with this prompt.
    variation_prompt: str | None = None

    def dates_for(self, provider: str | None) -> tuple[date | None, date | None]:
        """(deprecated, shutdown_date) on `provider`, its own row winning over the model's."""
        own = self.providers.get(provider) if provider else None
        if own is None:
            return self.deprecated, self.shutdown_date
        return own.deprecated or self.deprecated, own.shutdown_date or self.shutdown_date

    def shut_down(self, on: date, provider: str | None = None) -> bool:
        """Past its shutdown date (on that provider): upstream no longer accepts the name."""
        shutdown = self.dates_for(provider)[1]
        return shutdown is not None and on >= shutdown

    def deprecated_on(self, on: date, provider: str | None = None) -> bool:
        deprecated, shutdown = self.dates_for(provider)
        return any(day is not None and on >= day for day in (deprecated, shutdown))

    def public(self) -> dict[str, Any]:
        """The dates as ISO strings, for the models API and `models check --json`."""
        return {
            "released": _iso(self.released),
            "deprecated": _iso(self.deprecated),
            "shutdown_date": _iso(self.shutdown_date),
            "successor": self.successor,
            "source": self.source,
        }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


_FIELDS = ("released", "deprecated", "shutdown_date", "successor", "source", "providers")
_RULES = ("quality_map", "style_prompt", "variation_prompt")


def lifecycle_from_table(owner: str, table: Mapping[str, Any], released: date | None) -> Lifecycle:
    """A `lifecycle` table of models.toml (or of an alias); unknown keys are refused by name."""
    unknown = sorted(set(table) - set(_FIELDS) - set(_RULES))
    if unknown:
        raise ValueError(f"catalog: {owner}: unknown lifecycle fields {', '.join(unknown)}")
    for key in ("released", "deprecated", "shutdown_date"):
        if key in table and not isinstance(table[key], date):
            raise ValueError(f"catalog: {owner}: lifecycle {key} must be a date (YYYY-MM-DD)")
    providers = {}
    for name, row in dict(table.get("providers", {})).items():
        extra = sorted(set(row) - {"deprecated", "shutdown_date", "source"})
        if extra:
            raise ValueError(f"catalog: {owner}: lifecycle.providers.{name}: unknown {', '.join(extra)}")
        providers[name] = ProviderDates(row.get("deprecated"), row.get("shutdown_date"), row.get("source"))
    return Lifecycle(
        released=table.get("released", released),
        deprecated=table.get("deprecated"),
        shutdown_date=table.get("shutdown_date"),
        successor=table.get("successor"),
        source=table.get("source"),
        providers=providers,
        quality_map=dict(table.get("quality_map", {})),
        style_prompt=dict(table.get("style_prompt", {})),
        variation_prompt=table.get("variation_prompt"),
    )
