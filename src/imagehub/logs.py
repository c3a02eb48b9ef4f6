"""Logging for `imagehub serve`: one JSON object per line, on stderr.

Access lines (logger `imagehub.access`) are already JSON; everything else is wrapped with its
level and logger name, so a log shipper parses every line the same way.
"""

from __future__ import annotations

import logging
import sys
import time

import orjson

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if record.name == "imagehub.access":
            return record.getMessage()
        entry: dict[str, object] = {
            "ts": round(time.time(), 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                entry.setdefault(name, value)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "info", access_log: bool = True) -> None:
    """JSON logs for the `imagehub` loggers, unless the operator configured them already
    (e.g. `uvicorn --log-config`): their configuration wins."""
    root = logging.getLogger("imagehub")
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    logging.getLogger("imagehub.access").setLevel(logging.INFO if access_log else logging.WARNING)
