"""`imagehub keys …` and `imagehub usage`: what the admin API does, from the operator's shell.

These talk to the database directly (the same DATABASE_URL the hub uses), so they work with the
hub stopped, e.g. to create the first admin key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import click
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagehub.accounts.db import create_engine, migrate, sessionmaker
from imagehub.accounts.keys import KeyInfo, KeyStore, Mode
from imagehub.accounts.limits import TOP_UP, LimitError, check_int, check_name, validated_limits
from imagehub.accounts.usage import GROUPS, UsageQuery, usage_report
from imagehub.catalog import load_catalog
from imagehub.config import Settings

T = TypeVar("T")


def where(settings: Settings) -> str:
    """Which database the command uses, without a password, so the operator can tell it is the hub's."""
    if settings.database_url:
        return "database " + make_url(settings.database_url).render_as_string(hide_password=True)
    return f"data directory {settings.data_dir.resolve()} (IMAGEHUB_DATA_DIR)"


def with_sessions(
    action: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]], announce: bool = True
) -> T:
    """Run `action` on the hub's database, found as `imagehub serve` finds it (said on stderr)."""
    settings = Settings()
    if announce:
        click.echo(f"Using the {where(settings)}.", err=True)

    async def run() -> T:
        engine = create_engine(settings.effective_database_url)
        try:
            await migrate(engine)
            return await action(sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def with_keys(action: Callable[[KeyStore], Awaitable[T]], announce: bool = True) -> T:
    return with_sessions(lambda sessions: action(KeyStore(sessions)), announce)


class OperatorInputError(click.ClickException):
    """A value outside its rule: one line naming the option, exit status 2, never a traceback."""

    exit_code = 2

    def __init__(self, option: str, reason: str) -> None:
        super().__init__(f"{option}: {reason.replace('null', 'none')}")


def usd_to_micros(text: str, option: str) -> int:
    """'12.50' -> 12_500_000, exactly (no float on the way); negative and sub-micro amounts refused."""
    try:
        value = Decimal(text.strip().lstrip("$").replace(",", ""))
    except InvalidOperation:
        raise OperatorInputError(option, f"{text!r} is not an amount in USD, e.g. 25 or 12.50") from None
    if not value.is_finite():
        raise OperatorInputError(option, f"{text!r} is not an amount in USD, e.g. 25 or 12.50")
    if value < 0:
        raise OperatorInputError(option, f"amounts cannot be negative (got {text})")
    micros = value * 1_000_000
    if micros != micros.to_integral_value():
        raise OperatorInputError(option, f"{text} has more than 6 decimal places (the unit is 1 micro-USD)")
    return int(micros)


def checked(option: str, check: Callable[[], T]) -> T:
    """Run one of accounts.limits' rules, reporting a refusal against the option that was typed."""
    try:
        return check()
    except LimitError as error:
        raise OperatorInputError(option, error.reason) from None


def usd(micros: int | None) -> str:
    return "-" if micros is None else f"${Decimal(micros) / 1_000_000:,.6f}".rstrip("0").rstrip(".")


def _limits(key: KeyInfo) -> str:
    limits = []
    if key.budget_micros is not None:
        limits.append(f"budget {usd(key.budget_micros)}/{key.budget_period}")
    if key.rpm_limit is not None:
        limits.append(f"{key.rpm_limit} rpm")
    if key.concurrency_limit is not None:
        limits.append(f"{key.concurrency_limit} concurrent")
    if key.max_n is not None:
        limits.append(f"n<={key.max_n}")
    if key.allowed_models:
        limits.append("models " + ",".join(key.allowed_models))
    return "; ".join(limits)


def describe(key: KeyInfo) -> str:
    state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
    limits = [f"balance {usd(key.balance_micros)}"] if key.balance_micros is not None else []
    if _limits(key):
        limits.append(_limits(key))
    extra = f"  [{'; '.join(limits)}]" if limits else ""
    return f"{key.id}  {key.mode:<7}  {key.prefix}...  {state:<24}  {key.name}{extra}"


@click.group()
def keys() -> None:
    """Create, list, revoke, limit and top up API keys."""


@keys.command("create")
@click.option("--name", required=True, help="Who or what the key is for (1-200 characters).")
@click.option("--sandbox", is_flag=True, help="Served by the offline sandbox engine, never a paid model.")
@click.option(
    "--admin", is_flag=True, help="An admin key: manages keys and reads all usage; cannot generate."
)
def keys_create(name: str, sandbox: bool, admin: bool) -> None:
    if sandbox and admin:
        raise click.UsageError("--sandbox and --admin exclude each other")
    mode: Mode = "admin" if admin else "sandbox" if sandbox else "live"
    name = checked("--name", lambda: check_name(name))
    key, secret = with_keys(lambda store: store.create(name, mode))
    click.echo(f"Created {key.mode} key {key.id} ({key.name}). The secret is shown only once:", err=True)
    click.echo(secret)


@keys.command("list")
def keys_list() -> None:
    """Every key as a table: state, created, last used (to the minute), spend to date and limits."""

    async def gather(sessions: async_sessionmaker[AsyncSession]) -> tuple[list[KeyInfo], dict[str, int]]:
        everything = UsageQuery(
            start=datetime(1970, 1, 1, tzinfo=UTC), end=datetime.now(UTC), group_by=("key",)
        )
        spend = {row["key_id"]: row["cost_micros"] for row in await usage_report(sessions, everything)}
        return await KeyStore(sessions).list(), spend

    found, spend = with_sessions(gather)
    if not found:
        click.echo("No keys yet. Create one with: imagehub keys create --name NAME [--sandbox]")
        return
    headers = ["ID", "MODE", "PREFIX", "STATUS", "CREATED", "LAST USED", "SPEND", "BALANCE", "LIMITS", "NAME"]
    rows = [
        [
            key.id,
            key.mode,
            f"{key.prefix}...",
            f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active",
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never",
            usd(spend.get(key.id, 0)),
            usd(key.balance_micros),
            _limits(key) or "-",
            key.name,
        ]
        for key in found
    ]
    click.echo(table(headers, rows))


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns two spaces apart; the last column is not padded (no trailing blanks)."""
    widths = [max(len(cells[i]) for cells in [headers, *rows]) for i in range(len(headers))]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(cells[:-1], widths, strict=False)), cells[-1]])
        for cells in [headers, *rows]
    )


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    if not with_keys(lambda store: store.revoke(key_id)):
        raise click.ClickException(f"No active key with id {key_id!r}.")
    click.echo(f"Revoked {key_id}.")


_NUMERIC_OPTIONS = {"max_n": "--max-n", "rpm_limit": "--rpm", "concurrency_limit": "--concurrency"}


def _optional_int(value: str, option: str) -> int | None:
    """'none' clears a limit; a whole number sets it."""
    if value.strip().lower() in ("none", "off"):
        return None
    try:
        return int(value)
    except ValueError:
        raise OperatorInputError(option, f"{value!r} is not a whole number or 'none'") from None


def _changes(
    budget: str | None,
    period: str | None,
    models: str | None,
    numbers: dict[str, str | None],
) -> dict[str, Any]:
    """The options given, as the admin API's field names; values not yet checked."""
    changes: dict[str, Any] = {}
    if budget is not None:
        cleared = budget.strip().lower() == "none"
        changes["budget_micros"] = None if cleared else usd_to_micros(budget, "--budget")
        changes["budget_period"] = None if cleared else (period or "month")
    elif period is not None:
        changes["budget_period"] = period
    if models is not None:
        changes["allowed_models"] = (
            None if models.strip().lower() == "none" else [m.strip() for m in models.split(",") if m.strip()]
        )
    for name, value in numbers.items():
        if value is not None:
            changes[name] = _optional_int(value, _NUMERIC_OPTIONS[name])
    return changes


def _validated(changes: dict[str, Any]) -> dict[str, Any]:
    """accounts.limits' rules, with a refusal reported against the option that set the field."""
    options = {**_NUMERIC_OPTIONS, "budget_micros": "--budget", "budget_period": "--period"}
    try:
        return validated_limits(changes, load_catalog())
    except LimitError as error:
        raise OperatorInputError(options.get(error.field, "--models"), error.reason) from None


@keys.command("update")
@click.argument("key_id")
@click.option("--budget", help="Budget per period in USD, or 'none'.")
@click.option("--period", type=click.Choice(["day", "month"]), help="Budget period.")
@click.option("--models", help="Comma-separated allowed models, or 'none' for all.")
@click.option("--max-n", help="Most images per request (1-10), or 'none'.")
@click.option("--rpm", help="Requests per minute (1-1,000,000), or 'none'.")
@click.option("--concurrency", help="Concurrent requests (1-100,000), or 'none'.")
def keys_update(
    key_id: str,
    budget: str | None,
    period: str | None,
    models: str | None,
    max_n: str | None,
    rpm: str | None,
    concurrency: str | None,
) -> None:
    """Change a key's limits."""
    numbers = {"max_n": max_n, "rpm_limit": rpm, "concurrency_limit": concurrency}
    changes = _validated(_changes(budget, period, models, numbers))
    if not changes:
        raise OperatorInputError(
            "KEY_ID",
            "nothing to change: give at least one of --budget, --period, --models, --max-n, "
            "--rpm, --concurrency",
        )
    key = with_keys(lambda store: store.update_limits(key_id, changes))
    if key is None:
        raise click.ClickException(f"No key with id {key_id!r}.")
    click.echo(describe(key))


@keys.command("topup", context_settings={"ignore_unknown_options": True})
@click.argument("key_id")
@click.argument("amount_usd")
@click.option("--note", default=None)
def keys_topup(key_id: str, amount_usd: str, note: str | None) -> None:
    """Add prepaid credits (in USD) to a key."""
    amount = usd_to_micros(amount_usd, "AMOUNT_USD")
    if amount <= 0:
        raise OperatorInputError("AMOUNT_USD", f"a top-up must be positive (got {amount_usd})")
    checked("AMOUNT_USD", lambda: check_int("amount_micros", amount, TOP_UP, nullable=False))
    key = with_keys(lambda store: store.top_up(key_id, amount, note))
    if key is None:
        raise click.ClickException(f"No key with id {key_id!r}.")
    click.echo(describe(key))


def _parse_when(value: str | None, default: datetime, option: str) -> datetime:
    if value is None:
        return default
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise OperatorInputError(
            option, f"{value!r} is not an ISO date or time, e.g. 2026-11-01 or 2026-11-01T12:00 (UTC)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@click.command("usage")
@click.option("--start", help="ISO date/time (UTC); default 30 days ago.")
@click.option("--end", help="ISO date/time (UTC); default now.")
@click.option(
    "--group-by", default="key,model", show_default=True, help=f"Comma-separated: {', '.join(GROUPS)}."
)
@click.option("--key", "key_id", default=None, help="Only this key id.")
def usage(start: str | None, end: str | None, group_by: str, key_id: str | None) -> None:
    """Print usage and spend as a table."""
    groups = tuple(part.strip() for part in group_by.split(",") if part.strip())
    if not groups or any(group not in GROUPS for group in groups):
        raise click.BadParameter(f"choose from {', '.join(GROUPS)}", param_hint="--group-by")
    now = datetime.now(UTC)
    query = UsageQuery(
        start=_parse_when(start, now - timedelta(days=30), "--start"),
        end=_parse_when(end, now, "--end"),
        group_by=groups,  # type: ignore[arg-type]
        key_id=key_id,
    )
    if query.end <= query.start:
        raise OperatorInputError("--end", "must be after --start")
    rows = with_sessions(lambda sessions: usage_report(sessions, query))
    headers = [
        *("key_id" if g == "key" else g for g in groups),
        "requests",
        "images",
        "delivered",
        "errors",
        "cost",
    ]
    table = [
        [
            *(str(row["key_id" if g == "key" else g]) for g in groups),
            str(row["requests"]),
            str(row["images_requested"]),
            str(row["images_delivered"]),
            str(row["errors"]),
            usd(row["cost_micros"]),
        ]
        for row in rows
    ]
    widths = [max(len(h), *(len(r[i]) for r in table)) if table else len(h) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row_cells in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row_cells, widths, strict=True)))
    total = sum(row["cost_micros"] for row in rows)
    click.echo(f"\n{sum(row['requests'] for row in rows)} request(s), total {usd(total)}")
