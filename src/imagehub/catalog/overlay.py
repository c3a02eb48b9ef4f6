"""The operator's catalog file (IMAGEHUB_CATALOG_FILE), merged over the packaged TOML at start.

It is written in the catalog's own schema: `[models."name"]` (a new model, or some fields of a
known one: a date in its `lifecycle`), `[aliases."name"]` (re-point a name, or refuse it with
410) and `[prices."name"]`. Tables merge key by key; any other value replaces the packaged one.
So a shutdown date that moves, a model that launches or a price that changes needs no release.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

CATALOG_FILE_VARIABLE = "IMAGEHUB_CATALOG_FILE"
_SECTIONS = frozenset({"models", "aliases", "prices"})


class CatalogFileError(ValueError):
    """The operator's catalog file cannot be used; the message is one line naming file and fault."""


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`: tables merge recursively, every other value replaces."""
    merged = dict(base)
    for key, value in over.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = merge(current, value)
        else:
            merged[key] = value
    return merged


def catalog_file(environ: Mapping[str, str] | None = None) -> Path | None:
    value = (os.environ if environ is None else environ).get(CATALOG_FILE_VARIABLE, "").strip()
    return Path(value) if value else None


def read_overlay(path: Path) -> dict[str, Any]:
    """Parse and shape-check the file; every fault is a CatalogFileError naming it."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogFileError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogFileError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(document) - _SECTIONS)
    if unknown:
        raise CatalogFileError(
            f"{path}: unknown section(s) {', '.join(unknown)}; expected models, aliases or prices"
        )
    for section, tables in document.items():
        for name, table in tables.items() if isinstance(tables, dict) else [("", tables)]:
            if not isinstance(table, dict):
                raise CatalogFileError(f"{path}: [{section}] entry {name!r} must be a table")
    return document


def _packaged(name: str) -> dict[str, Any]:
    text = resources.files("imagehub.catalog").joinpath(name).read_text(encoding="utf-8")
    return tomllib.loads(text)


#: The packaged catalog files: OpenAI, Google, cloud and local models, then the image vendors
#: (BFL, Stability, Ideogram, Recraft, xAI, Seedream, DashScope, fal, Replicate), and their prices.
PACKAGED_FILES = ("models.toml", "vendors.toml", "prices.toml", "vendor_prices.toml")


def _packaged_document() -> dict[str, Any]:
    """Every packaged file as one document; a name defined in two of them is an error to resolve."""
    document: dict[str, Any] = {}
    for name in PACKAGED_FILES:
        for kind, tables in _packaged(name).items():
            into = document.setdefault(kind, {})
            for entry, table in tables.items():
                if entry in into:
                    raise ValueError(
                        f"catalog: {kind} {entry!r} is defined in two catalog files; "
                        "unify them into one entry listing every provider"
                    )
                into[entry] = table
    return document


@cache
def documents() -> tuple[dict[str, Any], Path | None]:
    """The packaged files as one document, with the operator's file merged over them."""
    document = _packaged_document()
    path = catalog_file()
    if path is not None:
        document = merge(document, read_overlay(path))
    return document, path


def price_tables() -> dict[str, dict[str, Any]]:
    """Every model's price table, packaged and overlaid."""
    prices: dict[str, dict[str, Any]] = documents()[0].get("prices", {})
    return prices
