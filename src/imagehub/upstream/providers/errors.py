"""How a provider call failed, in terms the router can act on.

The router retries `Retryable`, falls over on `DeploymentFault`, and passes `ClientFault`
straight to the client: a 4xx the client caused must never be retried.
"""

from __future__ import annotations


class ProviderError(Exception):
    """Base: `message` is safe to show a client (no keys, no internal URLs)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class ClientFault(ProviderError):
    """The upstream rejected the request itself (bad parameter, content policy): pass it on."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        code: str | None = None,
        param: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.param = param
        self.type = type_


class Retryable(ProviderError):
    """Worth trying again: 429, 5xx, a dropped connection, a timeout or a garbled answer."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        timeout: bool = False,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after
        self.timeout = timeout


class DeploymentFault(ProviderError):
    """This deployment cannot serve us (bad credentials, unknown model there): try another."""


class TryElsewhere(Retryable):
    """Not worth another attempt on this deployment now, but at once on another one.

    An engine whose queue is full (`busy`: healthy, so no mark against its breaker), or one
    that cannot be reached (its process is gone: a retry here would only wait for nothing).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        busy: bool = False,
    ) -> None:
        super().__init__(message, status=status, code=code, retry_after=retry_after)
        self.busy = busy


class ModelGone(DeploymentFault):
    """The upstream says the model does not exist (404 model_not_found): a lifecycle fact.

    Not a failure of the deployment: it stays healthy for its other models, and the hub serves
    the name by its successor from then on.
    """
