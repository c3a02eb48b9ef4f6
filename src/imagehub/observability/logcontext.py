"""Who a log line is about: the id, key and model of the request being served.

The API layer binds them; the JSON formatter adds them to every line written while that request
runs. So a retry or upstream-error line deep in the router names its request, key and model
without those ids being threaded through the router and providers (contextvars follow the
request's task and the tasks it starts).
"""

from __future__ import annotations

from contextvars import ContextVar, Token

_fields: ContextVar[dict[str, str] | None] = ContextVar("imagehub_log_fields", default=None)


def start(request_id: str) -> Token[dict[str, str] | None]:
    """A fresh set of fields for a new request; `end` with the token when it is done."""
    return _fields.set({"request_id": request_id})


def end(token: Token[dict[str, str] | None]) -> None:
    _fields.reset(token)


def bind(**fields: str) -> None:
    """Add fields for the rest of the current request (e.g. the key id once it is known)."""
    current = _fields.get()
    _fields.set({**current, **fields} if current else fields)


def current() -> dict[str, str]:
    return _fields.get() or {}
