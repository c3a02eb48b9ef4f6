"""The model catalog: capabilities of every public model, kept as data in models.toml.

Owns the ModelSpec of each public name (sizes, n, qualities, prompt length, edit support), its
aliases and the TOML that holds them. Pure data: it imports nothing else of the hub, and every
layer may read it.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from imagehub.catalog.loader import alias_from_table, spec_from_table
from imagehub.catalog.spec import Alias, ModelSpec

__all__ = ["Alias", "Catalog", "ModelSpec", "Resolved", "load_catalog"]

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
        self._aliases = dict(aliases or {})
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


#: The packaged catalog files, read in this order: OpenAI, Google and local models, then the
#: image vendors (BFL, Stability, Ideogram, Recraft, xAI, Seedream, DashScope, fal, Replicate).
CATALOG_FILES = ("models.toml", "vendors.toml")


def _merged(kind: str, documents: list[dict[str, Any]]) -> dict[str, Any]:
    """One table of `kind` from every file; a name defined twice is an error to resolve by hand."""
    merged: dict[str, Any] = {}
    for document in documents:
        for name, table in document.get(kind, {}).items():
            if name in merged:
                raise ValueError(
                    f"catalog: {kind} {name!r} is defined in two catalog files; "
                    "unify them into one entry listing every provider"
                )
            merged[name] = table
    return merged


@cache
def load_catalog() -> Catalog:
    """Parse the packaged catalog files once per process; a bad entry fails loudly at start-up."""
    package = resources.files("imagehub.catalog")
    documents = [tomllib.loads(package.joinpath(name).read_text(encoding="utf-8")) for name in CATALOG_FILES]
    tables = _merged("models", documents)
    specs = {name: spec_from_table(name, tables) for name in tables}
    aliases = {
        name: alias_from_table(name, table, specs) for name, table in _merged("aliases", documents).items()
    }
    return Catalog(specs, aliases)
