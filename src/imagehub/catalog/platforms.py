"""What each cloud platform does differently from the vendor whose models it resells: platforms.toml.

Azure retires OpenAI models on its own dates and returns no WEBP; Bedrock names Stability's
models by its own ids. Kept apart from models.toml so a model's own lifecycle and a platform's
exceptions to it never share one field.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["Platform", "Retirement", "platform"]


@dataclass(frozen=True, slots=True)
class Retirement:
    """A model the platform no longer serves, from `shutdown` on."""

    model: str
    shutdown: date
    successor: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Platform:
    name: str
    output_formats: tuple[str, ...] | None = None  # None: whatever the model returns
    models: dict[str, str] = field(default_factory=dict)  # catalog model -> the platform's id
    retired: dict[str, Retirement] = field(default_factory=dict)
    limited_access: tuple[str, ...] = ()
    # Image models the platform lists that the hub does not serve on purpose (Bedrock's
    # Stability image services: edit tools, not generators); `models check` ignores them.
    not_served: tuple[str, ...] = ()

    def known_ids(self) -> set[str]:
        """Every platform id this table speaks of: mapped, retired or deliberately not served."""
        return set(self.models.values()) | {self.upstream_id(m) for m in self.retired} | set(self.not_served)

    def upstream_id(self, model: str) -> str:
        """The platform's own id for a catalog model: its table's entry, else the same name."""
        return self.models.get(model, model)

    def refuses_format(self, output_format: str | None) -> bool:
        return bool(output_format and self.output_formats and output_format not in self.output_formats)


def _platform(name: str, table: dict[str, Any]) -> Platform:
    retired = {
        model: Retirement(model, entry["shutdown"], entry.get("successor"), entry.get("note"))
        for model, entry in table.get("retired", {}).items()
    }
    formats = table.get("output_formats")
    return Platform(
        name,
        tuple(formats) if formats is not None else None,
        dict(table.get("models", {})),
        retired,
        tuple(table.get("limited_access", ())),
        tuple(table.get("not_served", ())),
    )


@cache
def _platforms() -> dict[str, Platform]:
    text = resources.files("imagehub.catalog").joinpath("platforms.toml").read_text(encoding="utf-8")
    tables: dict[str, dict[str, Any]] = tomllib.loads(text)["platforms"]
    return {name: _platform(name, table) for name, table in tables.items()}


def platform(name: str) -> Platform:
    """A platform's differences; a provider with none listed gets an empty record."""
    return _platforms().get(name) or Platform(name)
