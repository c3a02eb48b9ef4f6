"""Errors the hub raises on purpose, each carrying its HTTP status and OpenAI error fields.

The service layer raises these without knowing about HTTP frameworks; `api.errors` renders them
as `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

from collections.abc import Mapping


class HubError(Exception):
    """Base for every error that reaches a client with a deliberate status and shape."""

    status: int = 500
    type: str = "server_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        if status is not None:
            self.status = status
        self.headers = dict(headers or {})

    def body(self) -> dict[str, dict[str, str | None]]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class InvalidRequest(HubError):
    """The client sent something we will not act on (400 unless told otherwise)."""

    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(HubError):
    status = 401
    type = "invalid_request_error"

    def __init__(self, message: str, *, code: str = "invalid_api_key") -> None:
        super().__init__(message, code=code, headers={"WWW-Authenticate": "Bearer"})


class NotFound(HubError):
    status = 404
    type = "invalid_request_error"


class Forbidden(HubError):
    status = 403
    type = "invalid_request_error"


class Gone(HubError):
    status = 410
    type = "invalid_request_error"


class ServiceUnavailable(HubError):
    """Nothing can serve the request right now; the client may retry later."""

    status = 503
    type = "server_error"
