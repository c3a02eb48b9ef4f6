"""The interface every provider implements. Providers know nothing of keys, prices or storage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from imagehub.schema.images import GenerationResult, ImageJob
from imagehub.upstream.deployments import Deployment
from imagehub.upstream.providers.errors import ClientFault


class ImageProvider(Protocol):
    name: str  # the deployment's name, safe to log and show
    kind: str  # the API it speaks: openai, google, sandbox; what `provider/model` pins

    async def generate(self, job: ImageJob) -> GenerationResult:
        """Make `job.n` images (editing `job.images` when given) or raise a HubError."""
        ...

    async def close(self) -> None:
        """Release pooled connections."""
        ...


class ProviderFactory(Protocol):
    """What every adapter class offers the provider table: build itself for one deployment."""

    @classmethod
    def from_deployment(cls, deployment: Deployment, environ: Mapping[str, str]) -> ImageProvider: ...


@dataclass(frozen=True, slots=True)
class Load:
    """What a deployment that reports its load (an engine) says: is it up, how long its queue."""

    healthy: bool
    queue: float


class ReportsLoad(Protocol):
    """A provider the router can rank by load: the shortest queue first, one that is down last."""

    def current_load(self) -> Load: ...


class RefusesSome(Protocol):
    """A provider whose platform cannot do some jobs its models allow (Azure: no WEBP).

    The router skips it for such a job, so another deployment of the model serves it; when
    none can, the client gets the refusal as a 400 before any upstream call.
    """

    def refusal(self, job: ImageJob) -> ClientFault | None: ...


@dataclass(frozen=True, slots=True)
class ListedModel:
    """One entry of an upstream's own model list, as `imagehub models check` compares it.

    `image` is what the platform says of its output (Bedrock's outputModalities); None where
    the list does not say, and the name has to tell.
    """

    name: str
    shutdown_date: date | None = None
    image: bool | None = None


class ListsModels(Protocol):
    """A cloud adapter that reads its platform's model list with the deployment's own auth."""

    def listed_id(self, model: str) -> str:
        """The id the platform's list shows for a catalog model this deployment maps."""
        ...

    def list_url(self) -> str:
        """Where the list is read, for the report (no credential in it)."""
        ...

    async def list_models(self) -> list[ListedModel]: ...
