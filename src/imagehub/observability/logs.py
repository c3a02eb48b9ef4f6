"""Logging for `imagehub serve`: one JSON object per line on stderr, or plain text.

Every line has `level` and `logger`: the hub's own, uvicorn's (through `uvicorn_log_config`) and
any library's that reaches the root logger, so a log shipper parses every line the same way.
Lines written while a request is served also carry its `request_id`, `key_id` and `model`
(see `logcontext`). Access lines (logger `imagehub.access`) are built as JSON by the middleware.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

from imagehub.observability import logcontext

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's copy of the message with terminal colours
}
_ACCESS_PREFIX = '{"level":"info","logger":"imagehub.access",'


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if record.name == "imagehub.access":
            message = record.getMessage()
            return _ACCESS_PREFIX + message[1:] if message.startswith("{") else message
        entry: dict[str, object] = {
            "ts": round(time.time(), 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **logcontext.current(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                entry.setdefault(name, value)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """For a terminal: time, level, logger, message, then the request's ids when there are any."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = logcontext.current()
        if fields and record.name != "imagehub.access":
            line += "  [" + " ".join(f"{name}={value}" for name, value in fields.items()) + "]"
        return line


def _formatter_path(log_format: str) -> str:
    return f"imagehub.observability.logs.{'TextFormatter' if log_format == 'text' else 'JsonFormatter'}"


def configure_logging(level: str = "info", access_log: bool = True, log_format: str = "json") -> None:
    """Logs for the `imagehub` loggers, unless the operator configured them already
    (e.g. `uvicorn --log-config`): their configuration wins."""
    root = logging.getLogger("imagehub")
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if log_format == "text" else JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    logging.getLogger("imagehub.access").setLevel(logging.INFO if access_log else logging.WARNING)


def uvicorn_log_config(level: str = "info", log_format: str = "json") -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn.run: its lines, and the root logger's, in our format.

    uvicorn applies it in the serving process and in every worker, before the app is loaded.
    """
    handler = {"class": "logging.StreamHandler", "formatter": "hub", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"hub": {"()": _formatter_path(log_format)}},
        "handlers": {"hub": handler},
        "loggers": {
            "uvicorn": {"handlers": ["hub"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["hub"], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["hub"], "level": "WARNING"},
    }
