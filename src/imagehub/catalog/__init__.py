"""The model catalog: capabilities and lifecycle of every public model, kept as data in TOML.

Owns the ModelSpec of each public name (sizes, n, qualities, prompt length, edit support), its
lifecycle (released, deprecated, shutdown, successor: `lifecycle`), its aliases, the packaged
TOML and the operator's overlay file (`overlay`). Pure data: it imports nothing else of the hub,
and every layer may read it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from imagehub.catalog.lifecycle import Lifecycle, today
from imagehub.catalog.loader import alias_from_table, spec_from_table
from imagehub.catalog.overlay import CatalogFileError, documents
from imagehub.catalog.spec import Alias, ModelSpec

__all__ = [
    "Alias",
    "Catalog",
    "CatalogFileError",
    "Lifecycle",
    "ModelSpec",
    "Resolved",
    "load_catalog",
    "today",
]

_PUNCTUATION = re.compile(r"[^a-z0-9.]+")


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a requested name means: the model that serves it, a pinned provider, and the alias used."""

    spec: ModelSpec
    provider: str | None = None
    alias: Alias | None = None


def _squashed(name: str) -> str:
    """Case, spaces, hyphens and underscores ignored: "GPT Image 2" and "gptimage2" meet."""
    return _PUNCTUATION.sub("", name.lower())


class Catalog:
    """Looks models up by public name or alias, with or without a `provider/` pin."""

    def __init__(self, specs: dict[str, ModelSpec], aliases: dict[str, Alias] | None = None) -> None:
        self._specs = specs
        # An alias with a model's own name re-points or refuses that model (an operator's overlay).
        self._overrides = {name: alias for name, alias in (aliases or {}).items() if name in specs}
        self._aliases = {name: alias for name, alias in (aliases or {}).items() if name not in specs}
        known = [*specs, *self._aliases]
        self._squashed = {_squashed(name): name for name in reversed(known)}  # first one wins

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._specs.values())

    def names(self) -> list[str]:
        return list(self._specs)

    def aliases(self) -> list[Alias]:
        return list(self._aliases.values())

    def get(self, name: str) -> ModelSpec | None:
        """A model by its own name only (aliases are not models)."""
        return self._specs.get(name)

    def alias(self, name: str) -> Alias | None:
        return self._aliases.get(name)

    def override(self, name: str) -> Alias | None:
        """The operator's re-pointing or refusal of the model `name`, if any."""
        return self._overrides.get(name)

    def successor(self, name: str) -> str | None:
        """Who serves `name` once it is gone: the operator's re-pointing, else the lifecycle's."""
        override = self._overrides.get(name)
        if override is not None:
            return override.target
        spec = self._specs.get(name)
        return spec.lifecycle.successor if spec else None

    def retired(self, name: str, on: date | None = None) -> bool:
        """Past the model's shutdown date on its first provider, or re-pointed by the operator.

        The sandbox stands in for that provider, so it follows the same dates.
        """
        spec = self._specs.get(name)
        if spec is None:
            return False
        home = spec.providers[0] if spec.providers else None
        return name in self._overrides or spec.lifecycle.shut_down(on or today(), home)

    def chain(self, name: str) -> list[str]:
        """`name`, its successor, that one's successor ...: each model once, in order."""
        seen = [name]
        following = self.successor(name)
        while following is not None and following not in seen and following in self._specs:
            seen.append(following)
            following = self.successor(following)
        return seen

    def live_successor(self, name: str, on: date | None = None) -> str:
        """The first model along `name`'s chain that is not shut down (the last one if all are)."""
        day = on or today()
        chain = self.chain(name)
        return next((model for model in chain if not self.retired(model, day)), chain[-1])

    def lookup(self, requested: str) -> Resolved | None:
        """`dall-e-3`, `openai/dall-e-3` or an alias; None when the hub knows no such model."""
        found = self._bare(requested)
        if found is not None:
            return found
        provider, sep, bare = requested.partition("/")
        found = self._bare(bare) if sep else None
        if found is not None and provider in found.spec.providers:
            return Resolved(found.spec, provider, found.alias)
        return None

    def resolve(self, requested: str) -> tuple[ModelSpec | None, str | None]:
        """Split `openai/dall-e-3` into its spec and pinned provider; a bare name pins nothing."""
        found = self.lookup(requested)
        return (found.spec, found.provider) if found else (None, None)

    def suggest(self, name: str) -> str | None:
        """The catalog name a mistyped model name most likely meant, or None.

        Catches case, spaces and missing or extra hyphens exactly (`DALL-E-3`, `dalle3`,
        `gpt image 2`), then near misses by similarity (`dall-e3`, `gemini-3-pro-imag`). A
        provider pin is kept when it is right, fixed when the model lives elsewhere.
        """
        provider, sep, bare = name.strip().partition("/")
        if not sep:
            provider, bare = "", provider
        guess = self._squashed.get(_squashed(bare))
        if guess is None:
            close = difflib.get_close_matches(_squashed(bare), list(self._squashed), n=1, cutoff=0.75)
            guess = self._squashed[close[0]] if close else None
        if guess is None or not sep:
            return guess
        found = self._bare(guess)
        providers = found.spec.providers if found else ()
        if provider in providers:
            return f"{provider}/{guess}"
        return f"{providers[0]}/{guess}" if len(providers) == 1 else guess

    def _bare(self, name: str) -> Resolved | None:
        spec = self._specs.get(name)
        if spec is not None:
            return Resolved(spec)
        alias = self._aliases.get(name)
        return Resolved(self._specs[alias.target], alias=alias) if alias is not None else None


def build_catalog(document: dict[str, Any]) -> Catalog:
    """ModelSpecs and aliases from one merged document; a bad entry raises ValueError naming it."""
    tables = document["models"]
    specs = {name: spec_from_table(name, tables) for name in tables}
    aliases = {
        name: alias_from_table(name, table, specs) for name, table in document.get("aliases", {}).items()
    }
    for spec in specs.values():
        successor = spec.lifecycle.successor
        if successor is not None and successor not in specs:
            raise ValueError(f"catalog: {spec.name}: successor {successor!r} is not a model")
    return Catalog(specs, aliases)


@cache
def load_catalog() -> Catalog:
    """The packaged catalog with IMAGEHUB_CATALOG_FILE over it, once per process.

    A bad entry fails at start-up; one that comes from the operator's file raises
    CatalogFileError naming the file, so `serve` can say it in one line.
    """
    document, overlay = documents()
    try:
        return build_catalog(document)
    except (ValueError, KeyError, TypeError) as exc:
        if overlay is None or isinstance(exc, CatalogFileError):
            raise
        fault = str(exc).removeprefix("catalog: ")
        raise CatalogFileError(f"{overlay}: {fault}") from None
