"""The API-key dependency: `Authorization: Bearer <key>` or a 401 in OpenAI's shape."""

from __future__ import annotations

from starlette.requests import Request

from imagehub.accounts.keys import KeyInfo, KeyStore
from imagehub.errors import AuthenticationFailed


async def require_key(request: Request) -> KeyInfo:
    header = request.headers.get("authorization")
    if not header:
        raise AuthenticationFailed(
            "Missing API key. Send it as 'Authorization: Bearer <key>'.", code="missing_api_key"
        )
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise AuthenticationFailed("Malformed Authorization header; expected 'Bearer <key>'.")
    keys: KeyStore = request.app.state.keys
    key = await keys.authenticate(secret)
    if key is None:
        raise AuthenticationFailed("Incorrect, unknown or revoked API key.")
    return key
