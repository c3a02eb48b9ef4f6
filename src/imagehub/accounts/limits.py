"""The rules for a key's name, limits and credits: one place, for the admin API and the CLI alike.

A limit that slipped past its rule used to be stored and then break every request on the key
(`rpm 0` made the rate limiter raise, a 500 per request). Every writer of limits goes through
`validated_limits`, so a bad value is refused where the operator typed it, with the field, the
allowed range and the value, and a model name must be one the catalog knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from imagehub.catalog import Catalog
from imagehub.errors import InvalidRequest

MAX_MICROS = 10**15  # a billion USD: far above any real budget, far below a 64-bit overflow
MAX_NAME_LENGTH = 200


@dataclass(frozen=True, slots=True)
class IntRule:
    """A whole-number limit: its range, and what it counts (for messages)."""

    minimum: int
    maximum: int
    counts: str

    def describe(self) -> str:
        return f"a whole number of {self.counts} from {self.minimum:,} to {self.maximum:,}"


INT_RULES: dict[str, IntRule] = {
    "balance_micros": IntRule(0, MAX_MICROS, "micro-USD"),
    "budget_micros": IntRule(0, MAX_MICROS, "micro-USD"),
    "max_n": IntRule(1, 10, "images per request"),
    "rpm_limit": IntRule(1, 1_000_000, "requests per minute"),
    "concurrency_limit": IntRule(1, 100_000, "concurrent requests"),
}
TOP_UP = IntRule(1, MAX_MICROS, "micro-USD")
BUDGET_PERIODS = ("day", "month")
LIMIT_NAMES = (*INT_RULES, "budget_period", "allowed_models")


class LimitError(InvalidRequest):
    """A limit outside its rule: 400 on the API, exit status 2 on the CLI. `field` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"Invalid value for '{field}': {reason}.", param=field, code="invalid_value")
        self.field = field
        self.reason = reason


def check_int(field: str, value: object, rule: IntRule, *, nullable: bool = True) -> int | None:
    """`value` if it is a whole number inside `rule` (or None where a limit may be cleared)."""
    if value is None and nullable:
        return None
    clear = ", or null for no limit" if nullable else ""
    if isinstance(value, bool) or not isinstance(value, int):
        raise LimitError(field, f"expected {rule.describe()}{clear}, got {value!r}")
    if not rule.minimum <= value <= rule.maximum:
        raise LimitError(field, f"{value:,} is outside the allowed range; use {rule.describe()}{clear}")
    return value


def check_name(name: object) -> str:
    """A key's name: what it is for, 1-200 characters, not only spaces."""
    if not isinstance(name, str) or not name.strip():
        raise LimitError("name", "a key needs a name saying who or what it is for (1-200 characters)")
    if len(name) > MAX_NAME_LENGTH:
        raise LimitError("name", f"{len(name)} characters; at most {MAX_NAME_LENGTH}")
    return name.strip()


def check_models(value: object, catalog: Catalog) -> list[str] | None:
    """Catalog names (a `provider/` pin or an alias is stored as the model's own name), deduplicated."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise LimitError(
            "allowed_models", f"expected an array of model names, or null for all; got {value!r}"
        )
    if not value:
        raise LimitError("allowed_models", "name at least one model, or null to allow every model")
    models: list[str] = []
    for requested in value:
        found = catalog.lookup(requested.strip())
        if found is None:
            hint = catalog.suggest(requested.strip())
            tip = f"; did you mean '{hint}'?" if hint else "; GET /api/models lists them"
            raise LimitError("allowed_models", f"'{requested}' is not a model this hub knows{tip}")
        if found.spec.name not in models:  # an alias is stored as the model that serves it
            models.append(found.spec.name)
    return models


def validated_limits(changes: Mapping[str, Any], catalog: Catalog) -> dict[str, Any]:
    """`changes` with every value checked against its rule; unknown names are refused too."""
    checked: dict[str, Any] = {}
    for field, value in changes.items():
        if field in INT_RULES:
            checked[field] = check_int(field, value, INT_RULES[field])
        elif field == "budget_period":
            if value is not None and value not in BUDGET_PERIODS:
                raise LimitError(field, f"expected 'day' or 'month', got {value!r}")
            checked[field] = value
        elif field == "allowed_models":
            checked[field] = check_models(value, catalog)
        else:
            raise LimitError(field, f"not a key limit; the limits are {', '.join(LIMIT_NAMES)}")
    return checked
