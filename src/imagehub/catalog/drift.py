"""Where the catalog and an upstream's own model list disagree: what `models check` reports.

Only image models count: an upstream lists chat and embedding models too, and the catalog has
no business with those.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from imagehub.catalog import Catalog

_IMAGE_MARKERS = ("image", "dall-e", "imagen", "nano-banana")


def is_image_model(name: str) -> bool:
    return any(marker in name for marker in _IMAGE_MARKERS)


@dataclass(frozen=True, slots=True)
class DateDrift:
    model: str
    catalog: date | None
    upstream: date | None


@dataclass(slots=True)
class Drift:
    """One upstream against the catalog's models of its provider family."""

    unknown: list[str] = field(default_factory=list)  # upstream lists; the catalog lacks
    unlisted: list[str] = field(default_factory=list)  # the catalog serves; upstream no longer lists
    dates: list[DateDrift] = field(default_factory=list)  # shutdown dates that differ

    @property
    def any(self) -> bool:
        return bool(self.unknown or self.unlisted or self.dates)

    def public(self) -> dict[str, Any]:
        return {
            "unknown_to_catalog": self.unknown,
            "not_listed_upstream": self.unlisted,
            "shutdown_dates": [
                {
                    "model": item.model,
                    "catalog": item.catalog.isoformat() if item.catalog else None,
                    "upstream": item.upstream.isoformat() if item.upstream else None,
                }
                for item in self.dates
            ],
        }


def drift(
    catalog: Catalog, family: str, provider: str, listed: Iterable[tuple[str, date | None]], on: date
) -> Drift:
    """Compare `listed` (name, shutdown date) with the catalog's `family` models on `provider`.

    A name the catalog knows as retired may be missing upstream (that is what retired means); a
    live one missing is drift. Aliases count as known names.
    """
    upstream = {name: shutdown for name, shutdown in listed if is_image_model(name)}
    ours = {spec.name: spec for spec in catalog if family in spec.providers}
    known = set(ours) | {alias.name for alias in catalog.aliases()}
    result = Drift()
    result.unknown = sorted(name for name in upstream if name not in known)
    result.unlisted = sorted(
        name
        for name, spec in ours.items()
        if name not in upstream and not spec.lifecycle.shut_down(on, provider)
    )
    for name in sorted(set(upstream) & set(ours)):
        ours_date = ours[name].lifecycle.dates_for(provider)[1]
        theirs = upstream[name]
        if family == "openai" and theirs != ours_date:
            result.dates.append(DateDrift(name, ours_date, theirs))
        elif family != "openai" and ours_date is not None and ours_date <= on:
            # Gemini's list carries no dates: a name it still lists is not shut down yet.
            result.dates.append(DateDrift(name, ours_date, None))
    return result
