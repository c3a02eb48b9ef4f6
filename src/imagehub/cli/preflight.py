"""What `imagehub serve` checks before any worker starts: configuration that cannot work.

Found here, a problem is one line naming the setting and the fix, and exit code 2. Found in the
workers, it was the same nested traceback from every worker's lifespan, then "Application
startup failed", or "serving on ..." followed by `[Errno 98]`.
"""

from __future__ import annotations

import asyncio
import errno
import importlib.util
import socket

import click
from pydantic import ValidationError

from imagehub.config import Settings
from imagehub.storage.factory import open_store


class StartupError(click.ClickException):
    """A configuration `serve` cannot run with; click prints `Error: <message>`, one line."""

    exit_code = 2


def load_settings() -> Settings:
    """Settings from the environment, or the first invalid variable named with what it must be."""
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        variable = "IMAGEHUB_" + str(first["loc"][0]).upper() if first["loc"] else "an IMAGEHUB_ variable"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise StartupError(message if variable in message else f"{variable} is invalid: {message}") from None


def check_store(settings: Settings) -> None:
    """The image store can be opened: its extra is installed and its URL says what it must."""
    url = settings.store_url or ""
    if url.startswith("s3://") and importlib.util.find_spec("obstore") is None:
        raise StartupError(
            f"IMAGEHUB_STORE_URL={url} needs the s3 extra, which is not installed: "
            "pip install 'imagehub[s3]', or unset IMAGEHUB_STORE_URL to keep images in the data directory"
        )
    try:
        store = open_store(settings)
    except (RuntimeError, ValueError, ImportError) as error:
        raise StartupError(str(error)) from None
    asyncio.run(store.close())


def check_port(host: str, port: int) -> None:
    """Nothing else listens on host:port (uvicorn binds with SO_REUSEADDR too, so this agrees)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise StartupError(f"--host {host}: cannot resolve it ({error.strerror}); use an address") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"port {port} on {host} is already in use (another imagehub serve?): stop it, or "
                    f"choose a free port with --port (make run PORT={port + 1})"
                ) from None
            raise StartupError(f"cannot listen on {host}:{port}: {error.strerror}") from None
