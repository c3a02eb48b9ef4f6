"""OAuth access tokens for Vertex AI through google-auth: a service-account key file or ADC.

google-auth signs the service account's JWT grant and refreshes the token itself; we only ask
it, off the event loop (its transport is synchronous), whenever the cached token is no longer
valid, which google-auth reckons a few minutes before the real expiry. Tokens are never logged.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from imagehub.upstream.providers.errors import DeploymentFault, ProviderError, Retryable

SCOPE = "https://www.googleapis.com/auth/cloud-platform"


class GoogleTokens:
    """One deployment's credentials, loaded on first use; concurrent calls share one refresh."""

    def __init__(self, credentials_file: str | None) -> None:
        self._file = credentials_file
        self._credentials: Any = None
        self.project: str | None = None  # the project the credentials name, if any
        self._lock = asyncio.Lock()

    def _load(self) -> None:
        # Imported here: google-auth is the optional extra imagehub[vertex].
        import google.auth
        from google.oauth2 import service_account

        if self._file:
            credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                self._file, scopes=[SCOPE]
            )
            self.project = credentials.project_id
        else:
            credentials, self.project = google.auth.default(scopes=[SCOPE])
        self._credentials = credentials

    def _refresh(self) -> None:
        from google.auth.transport.requests import Request

        if self._credentials is None:
            self._load()
        if not self._credentials.valid:
            self._credentials.refresh(Request())

    async def token(self, label: str) -> str:
        """A valid access token, or a ProviderError the router acts on (never the token in a message)."""
        credentials = self._credentials
        if credentials is None or not credentials.valid:
            async with self._lock:
                try:
                    await asyncio.to_thread(self._refresh)
                except Exception as exc:
                    raise _classified(label, exc) from None
        return str(self._credentials.token)


def _oauth_error(exc: Exception) -> str:
    """The token endpoint's OAuth `error` code (invalid_grant …): a word, never the grant or a token."""
    answer = exc.args[1] if len(exc.args) > 1 else None
    code = answer.get("error") if isinstance(answer, dict) else None
    return f": {code}" if isinstance(code, str) and re.fullmatch(r"[A-Za-z_]{1,64}", code) else ""


def _classified(label: str, exc: Exception) -> ProviderError:
    """A missing or refused credential: try another deployment; an unreachable token endpoint: retry."""
    from google.auth import exceptions

    if isinstance(exc, exceptions.TransportError):
        return Retryable(
            f"{label} could not reach Google's token endpoint.", status=502, code="upstream_connection_error"
        )
    if isinstance(exc, exceptions.RefreshError) and getattr(exc, "retryable", False):
        return Retryable(
            f"{label}: Google's token endpoint failed ({type(exc).__name__}{_oauth_error(exc)}).", status=502
        )
    return DeploymentFault(
        f"{label} has no usable Google credentials ({type(exc).__name__}{_oauth_error(exc)})."
    )
