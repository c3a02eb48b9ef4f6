"""Microsoft Entra ID bearer tokens for Azure OpenAI, through azure-identity, refreshed before expiry.

DefaultAzureCredential walks the usual chain (environment service principal, workload identity,
managed identity, Azure CLI …), so the hub needs no Azure-specific configuration of its own.
A token is reused until five minutes before it expires; concurrent calls share one refresh.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from imagehub.upstream.providers.errors import DeploymentFault, ProviderError, Retryable

SCOPE = "https://cognitiveservices.azure.com/.default"
_EARLY_SECONDS = 300.0


class EntraTokens:
    """Cached tokens for one deployment; the token itself is never logged or shown."""

    def __init__(self, label: str, scope: str = SCOPE) -> None:
        self._label = label
        self._scope = scope
        self._credential: Any = None
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        if self._token is not None and time.time() < self._expires_on - _EARLY_SECONDS:
            return self._token
        async with self._lock:
            if self._token is None or time.time() >= self._expires_on - _EARLY_SECONDS:
                if self._credential is None:
                    # Imported here: azure-identity is the optional extra imagehub[azure].
                    from azure.identity.aio import DefaultAzureCredential

                    self._credential = DefaultAzureCredential()
                try:
                    access = await self._credential.get_token(self._scope)
                except Exception as exc:
                    raise _classified(self._label, exc) from None
                self._token, self._expires_on = access.token, float(access.expires_on)
            return self._token

    async def close(self) -> None:
        if self._credential is not None:
            await self._credential.close()


def _classified(label: str, exc: Exception) -> ProviderError:
    """No credential, or one Entra ID refused: try another deployment; a network failure: retry."""
    from azure.core.exceptions import ServiceRequestError

    if isinstance(exc, ServiceRequestError):
        return Retryable(
            f"{label} could not reach Microsoft Entra ID.", status=502, code="upstream_connection_error"
        )
    return DeploymentFault(f"{label} could not get a Microsoft Entra ID token ({type(exc).__name__}).")
