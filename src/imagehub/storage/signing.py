"""HMAC-signed, expiring image URLs, with a server secret created once per data directory."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from imagehub.errors import Forbidden, Gone


def load_or_create_secret(path: Path) -> bytes:
    """Read the signing secret, creating it (mode 0600) on first start.

    Created with O_EXCL so that several workers starting at once agree on a single secret.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    for _ in range(50):  # a concurrent creator may not have written its bytes yet
        text = path.read_text().strip()
        if text:
            return bytes.fromhex(text)
        time.sleep(0.01)
    raise RuntimeError(f"signing secret at {path} is empty")


class UrlSigner:
    """Signs `name` + expiry so that a URL can be served with no API key, and checks it back."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def signature(self, name: str, expires: int) -> str:
        message = f"{name}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def query(self, name: str, expires: int) -> str:
        return f"expires={expires}&signature={self.signature(name, expires)}"

    def verify(self, name: str, expires: str | None, signature: str | None, now: float) -> None:
        """Raise Forbidden for a missing or wrong signature, Gone once the URL has expired."""
        if not expires or not signature or not expires.isdigit():
            raise Forbidden("This image URL is missing its signature.", code="invalid_signature")
        expected = self.signature(name, int(expires))
        if not hmac.compare_digest(expected, signature):
            raise Forbidden("This image URL's signature is not valid.", code="invalid_signature")
        if int(expires) <= now:
            raise Gone("This image URL has expired. Generate the image again.", code="url_expired")
