"""Turn the tables of models.toml into ModelSpecs and Aliases, refusing any entry that cannot work.

A bad entry fails at start-up with the model's name, never on a request.
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any

from imagehub.catalog.lifecycle import lifecycle_from_table
from imagehub.catalog.spec import Alias, ModelSpec

_TUPLE_FIELDS = ("providers", "sizes", "output_formats", "qualities", "styles", "backgrounds")


def _unix(day: date | None) -> int:
    return calendar.timegm(day.timetuple()) if day else 0


def _with_base(name: str, tables: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A table with `extends` takes every field of its base (one level) unless it sets its own.

    Not its lifecycle: every name has its own dates (a twin outlives its base, or not).
    """
    table = dict(tables[name])
    base = table.pop("extends", None)
    if base is None:
        return table, None
    if base not in tables or "extends" in tables[base]:
        raise ValueError(f"catalog: {name}: extends {base!r}, which is not a plain model")
    inherited = {key: value for key, value in tables[base].items() if key != "lifecycle"}
    return {**inherited, **table}, base


Tables = tuple[dict[str, str], dict[str, str]]


def _from_resolutions(name: str, resolutions: dict[str, dict[str, str]]) -> Tables:
    """Tier -> ratio -> size becomes size -> ratio and size -> tier; a size listed twice is an error."""
    ratios: dict[str, str] = {}
    tiers: dict[str, str] = {}
    for tier, by_ratio in resolutions.items():
        for ratio, size in by_ratio.items():
            if size in ratios:
                raise ValueError(f"catalog: {name}: size {size} is listed for two resolutions")
            ratios[size], tiers[size] = ratio, tier
    return ratios, tiers


def spec_from_table(name: str, tables: dict[str, Any]) -> ModelSpec:
    values, base = _with_base(name, tables)
    aspect_ratios: dict[str, str] = values.pop("aspect_ratios", {})
    image_sizes: dict[str, str] = {}
    if "resolutions" in values:
        aspect_ratios, image_sizes = _from_resolutions(name, values.pop("resolutions"))
    if "sizes" not in values:
        values["sizes"] = list(aspect_ratios)
    for key in _TUPLE_FIELDS:
        if key in values:
            values[key] = tuple(values[key])
    values["fields"] = frozenset(values["fields"])
    released = values.get("created")
    values["lifecycle"] = lifecycle_from_table(name, values.pop("lifecycle", {}), released)
    values["created"] = _unix(released)
    try:
        spec = ModelSpec(
            name=name, aspect_ratios=aspect_ratios, image_sizes=image_sizes, extends=base, **values
        )
    except TypeError as exc:  # an unknown key: say which model has it
        raise ValueError(f"catalog: {name}: {exc}".replace("ModelSpec.__init__() ", "")) from None
    if spec.default_size not in spec.sizes:
        raise ValueError(f"catalog: {name}: default_size {spec.default_size!r} is not among its sizes")
    if (spec.min_side is None) != (spec.max_side is None):
        raise ValueError(f"catalog: {name}: min_side and max_side go together")
    if spec.has_size_range:
        for size in spec.sizes:
            if not spec.size_in_range(*spec.pixel_size(size)):
                raise ValueError(f"catalog: {name}: size {size!r} is outside its own range")
    return spec


def alias_from_table(name: str, table: dict[str, Any], specs: dict[str, ModelSpec]) -> Alias:
    values = dict(table)
    alias = Alias(
        name=name,
        target=values.pop("target"),
        deprecated=bool(values.pop("deprecated", False)),
        shutdown_date=values.pop("shutdown_date", None),
        sizes=dict(values.pop("sizes", {})),
        refuse=bool(values.pop("refuse", False)),
        notice=values.pop("notice", None),
        source=values.pop("source", None),
    )
    if values:
        raise ValueError(f"catalog: alias {name}: unknown fields {', '.join(sorted(values))}")
    if alias.deprecated and alias.shutdown_date is None:
        raise ValueError(f"catalog: alias {name}: a deprecated alias needs its shutdown_date")
    target = specs.get(alias.target)
    if target is None or alias.target == name:
        raise ValueError(f"catalog: alias {name}: target {alias.target!r} is not another model")
    for old, new in alias.sizes.items():
        if new not in target.sizes:
            raise ValueError(f"catalog: alias {name}: size {old} maps to {new}, which {target.name} lacks")
    return alias
