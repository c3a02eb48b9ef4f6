"""The model catalog: capabilities of every public model, kept as data in models.toml."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from imagehub.catalog.spec import ModelSpec

__all__ = ["Catalog", "ModelSpec", "load_catalog"]

_TUPLE_FIELDS = ("providers", "sizes", "output_formats", "qualities", "styles", "backgrounds")


class Catalog:
    """Looks models up by public name, with or without a `provider/` pin."""

    def __init__(self, specs: dict[str, ModelSpec]) -> None:
        self._specs = specs

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._specs.values())

    def names(self) -> list[str]:
        return list(self._specs)

    def get(self, name: str) -> ModelSpec | None:
        return self._specs.get(name)

    def resolve(self, requested: str) -> tuple[ModelSpec | None, str | None]:
        """Split `openai/dall-e-3` into its spec and pinned provider; a bare name pins nothing."""
        spec = self._specs.get(requested)
        if spec is not None:
            return spec, None
        provider, sep, bare = requested.partition("/")
        if sep:
            spec = self._specs.get(bare)
            if spec is not None and provider in spec.providers:
                return spec, provider
        return None, None


def _spec_from_table(name: str, table: dict[str, Any]) -> ModelSpec:
    values = dict(table)
    aspect_ratios: dict[str, str] = values.pop("aspect_ratios", {})
    if "sizes" not in values:
        values["sizes"] = list(aspect_ratios)
    for key in _TUPLE_FIELDS:
        if key in values:
            values[key] = tuple(values[key])
    values["fields"] = frozenset(values["fields"])
    spec = ModelSpec(name=name, aspect_ratios=aspect_ratios, **values)
    if spec.default_size not in spec.sizes:
        raise ValueError(f"catalog: {name}: default_size {spec.default_size!r} is not among its sizes")
    if (spec.min_side is None) != (spec.max_side is None):
        raise ValueError(f"catalog: {name}: min_side and max_side go together")
    if spec.has_size_range:
        for size in spec.sizes:
            if not spec.size_in_range(*spec.pixel_size(size)):
                raise ValueError(f"catalog: {name}: size {size!r} is outside its own range")
    return spec


@cache
def load_catalog() -> Catalog:
    """Parse the packaged models.toml once per process; a bad entry fails loudly at start-up."""
    text = resources.files("imagehub.catalog").joinpath("models.toml").read_text(encoding="utf-8")
    tables = tomllib.loads(text)["models"]
    return Catalog({name: _spec_from_table(name, table) for name, table in tables.items()})
