"""Where the catalog and an upstream's own model list disagree: what `models check` reports.

Only image models count: an upstream lists chat and embedding models too, and the catalog has
no business with those. OpenAI's and Gemini's lists are compared with the whole catalog family;
a cloud platform's (Azure OpenAI, Vertex AI, Bedrock) with what its deployment maps, by the
platform's own ids, and with the platform's retirements in platforms.toml.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from imagehub.catalog import Catalog
from imagehub.catalog.platforms import Platform

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


def _date_drift(model: str, ours: date | None, theirs: date | None, on: date) -> DateDrift | None:
    """A date the platform gives that differs from ours, or none given for a model we say is gone."""
    if theirs is not None and theirs != ours:
        return DateDrift(model, ours, theirs)
    if theirs is None and ours is not None and ours <= on:
        return DateDrift(model, ours, None)  # still listed past the day we say it stopped
    return None


def platform_drift(
    catalog: Catalog,
    platform: Platform,
    ids: Mapping[str, str],
    listed: Iterable[tuple[str, date | None, bool | None]],
    on: date,
) -> Drift:
    """Compare a cloud platform's list (id, shutdown date, image output?) with one deployment.

    `ids` maps each catalog model the deployment serves to the id the list shows for it. A
    mapped model missing from the list is drift unless the catalog has it shut down there; an
    image model the list shows that neither the catalog nor platforms.toml knows is unknown.
    """
    entries = {name: (shutdown, image) for name, shutdown, image in listed}
    provider = platform.name
    known = set(ids.values()) | platform.known_ids() | {alias.name for alias in catalog.aliases()}
    known |= {platform.upstream_id(spec.name) for spec in catalog if provider in spec.providers}
    result = Drift()
    result.unknown = sorted(
        name
        for name, (_, image) in entries.items()
        if (image if image is not None else is_image_model(name)) and name not in known
    )

    def shown(model: str, upstream: str) -> str:
        return model if model == upstream else f"{model} ({upstream})"

    for model, upstream in sorted(ids.items()):
        spec = catalog.get(model)
        retired = platform.retired.get(model)
        ours = retired.shutdown if retired else spec.lifecycle.dates_for(provider)[1] if spec else None
        if upstream not in entries:
            if ours is None or ours > on:
                result.unlisted.append(shown(model, upstream))
        elif (found := _date_drift(shown(model, upstream), ours, entries[upstream][0], on)) is not None:
            result.dates.append(found)
    for model, retirement in sorted(platform.retired.items()):
        upstream = platform.upstream_id(model)
        if model not in ids and upstream in entries:
            found = _date_drift(model, retirement.shutdown, entries[upstream][0], on)
            if found is not None:
                result.dates.append(found)
    return result
