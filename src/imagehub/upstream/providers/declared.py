"""Vendor adapters as three declarations over shared plumbing.

A vendor module says only (1) where and how to authenticate, (2) how a job becomes its request
(`request`, a `Call`) and (3) how an answer reads (`read`: `Done` with images, or `Next`: poll
this, cancel with that). This base class does the rest the same way for every vendor: the HTTP
call and its error mapping (http.py), `n` as concurrent calls where a call makes fewer images,
the submit-and-poll wait (jobs.py), result downloads from declared hosts (results.py), and
moderation refusals as `content_policy_violation`. Compare Portkey's per-provider `api.ts` plus
parameter map plus response transform, or LiteLLM's transformation config classes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import aiohttp
from yarl import URL

from imagehub.schema.images import GeneratedImage, GenerationResult, ImageJob, InputImage
from imagehub.upstream.deployments import Deployment
from imagehub.upstream.providers.errors import ClientFault, ProviderError, Retryable
from imagehub.upstream.providers.http import UpstreamClient, UpstreamErrorInfo
from imagehub.upstream.providers.jobs import BackgroundCalls, Backoff, Poll, wait_for_job
from imagehub.upstream.providers.results import ResultDownloader, image_format

CONTENT_POLICY = "content_policy_violation"
#: Consecutive failed polls of one job before it is given up (and retried as a new job).
MAX_POLL_FAILURES = 4


@dataclass(frozen=True, slots=True)
class Upload:
    """One file part of a multipart call (a source image, a mask)."""

    name: str
    data: bytes
    filename: str
    content_type: str


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request to the vendor: JSON body, multipart text fields (and files), or neither."""

    method: str
    url: str
    json: Any = None
    form: tuple[tuple[str, str], ...] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    files: tuple[Upload, ...] = ()


@dataclass(frozen=True, slots=True)
class Image:
    """One produced image as the vendor gave it: a URL to download, or base64."""

    url: str | None = None
    b64: str | None = None
    format: str | None = None


@dataclass(frozen=True, slots=True)
class Done:
    images: tuple[Image, ...]


@dataclass(frozen=True, slots=True)
class Next:
    """The job is not done: ask `poll` (soon, or `after` seconds); `cancel` abandons it upstream."""

    poll: Call
    cancel: Call | None = None
    after: float | None = None


Outcome = Done | Next


def moderated(vendor: str, detail: str) -> ClientFault:
    """The vendor's moderation refused the prompt or the image: the client's 400, never retried."""
    return ClientFault(
        f"The request was rejected by {vendor}'s content moderation ({detail}).", code=CONTENT_POLICY
    )


def malformed(label: str, what: str = "a malformed answer") -> Retryable:
    return Retryable(f"{label} sent {what}.", status=502, code="upstream_bad_response")


def upload(name: str, image: InputImage) -> Upload:
    """A source image as the file part `name` of a multipart edit (Stability, Ideogram)."""
    fmt = image.format or "png"
    return Upload(name, image.data or b"", f"{name}.{fmt}", f"image/{fmt}")


def data_uri(image: InputImage) -> str:
    """A source image as a `data:` URI, the way URL-taking vendors (fal, Replicate) accept uploads."""
    return f"data:image/{image.format or 'png'};base64,{base64.b64encode(image.data or b'').decode('ascii')}"


def error_text(payload: Any, *keys: str) -> str | None:
    """The first string under one of `keys` (dotted paths allowed) of a JSON error body."""
    for key in keys:
        value: Any = payload
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value and isinstance(value[0], str):
            return "; ".join(str(v) for v in value)
    return None


class DeclaredProvider:
    """The base of every declared vendor adapter; subclasses set the class attributes and three methods."""

    kind: ClassVar[str]  # the provider table's name
    vendor: ClassVar[str]  # the vendor's name in messages
    #: Where results may be downloaded from: exact hosts, or ".suffix" for a domain and its subdomains.
    result_hosts: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_deployment(cls, deployment: Deployment, environ: Mapping[str, str]) -> Self:
        return cls(deployment, deployment.credential(environ))

    def __init__(self, deployment: Deployment, api_key: str | None) -> None:
        self.name = deployment.name
        self.base = deployment.url
        self.timeout = deployment.timeout_seconds
        self.label = f"deployment {deployment.name!r}"
        self._auth = self.auth(api_key) if api_key else {}
        self.backoff = Backoff(first=min(0.25, deployment.poll_seconds), most=deployment.poll_seconds)
        self.client = UpstreamClient(
            label=self.label,
            timeout_seconds=deployment.timeout_seconds,
            secrets=(api_key or "",),
            max_connections=deployment.max_connections,
        )
        self._origin = URL(self.base).origin()
        self.downloads = ResultDownloader(label=self.label, hosts=self.result_hosts, origin=self._origin)
        self._background = BackgroundCalls()

    # ---- the three declarations ------------------------------------------------------------------

    def auth(self, api_key: str) -> dict[str, str]:
        """Headers that authenticate every call (and poll) to this vendor."""
        return {"Authorization": f"Bearer {api_key}"}

    def request(self, job: ImageJob, count: int) -> Call:
        """The submission that makes `count` images of `job`."""
        raise NotImplementedError

    def read(self, payload: Any, job: ImageJob) -> Outcome:
        """A submission's or poll's answer: images, or where to poll next. Raise for refusals."""
        raise NotImplementedError

    def parse_error(self, status: int, payload: Any) -> UpstreamErrorInfo:
        """The vendor's error body; the default reads OpenAI's shape and a few common ones."""
        message = error_text(payload, "error.message", "message", "detail", "error", "errors")
        code = error_text(payload, "error.code", "code", "name")
        return UpstreamErrorInfo(message or f"HTTP {status}", code.lower() if code else None)

    def images_per_call(self, job: ImageJob) -> int:
        """How many images one call can make; `n` beyond it is several concurrent calls."""
        return job.spec.images_per_call or job.n

    # ---- the shared machinery --------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    async def generate(self, job: ImageJob) -> GenerationResult:
        per_call = max(1, self.images_per_call(job))
        counts = [min(per_call, job.n - start) for start in range(0, job.n, per_call)]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._make(job, count)) for count in counts]
        except* ProviderError as failures:
            raise failures.exceptions[0] from None
        images = [image for task in tasks for image in task.result()]
        if not images:
            raise ClientFault(
                f"{self.vendor} answered without an image.",
                status=502,
                code="upstream_no_image",
                type_="server_error",
            )
        return GenerationResult(images=images[: job.n], provider=self.name, kind=self.kind)

    async def _make(self, job: ImageJob, count: int) -> list[GeneratedImage]:
        # Source images may need decoding (a mask repainted) or encoding: off the event loop.
        call = await asyncio.to_thread(self.request, job, count) if job.images else self.request(job, count)
        first = await self._outcome(call, job)
        done = await wait_for_job(
            first, timeout=self.timeout, backoff=self.backoff, background=self._background, label=self.label
        )
        return [await self._image(image) for image in done.images]

    async def _outcome(self, call: Call, job: ImageJob) -> Done | Poll[Done]:
        """Send a submission and read its answer: images, or a `Poll` that asks the next call."""
        return self._next(self.read(await self.send(call), job), job)

    def _next(self, outcome: Outcome, job: ImageJob) -> Done | Poll[Done]:
        if isinstance(outcome, Done):
            return outcome
        cancel = outcome.cancel
        return Poll(
            ask=lambda: self._ask(outcome.poll, job, 0),
            cancel=(lambda: self._quietly(cancel)) if cancel is not None else None,
            after=outcome.after,
        )

    async def _ask(self, call: Call, job: ImageJob, failures: int) -> Done | Poll[Done]:
        """One poll. A transient failure (429, 5xx, a dropped connection) polls again after the
        backoff instead of abandoning a job already paid for; only repeated failures end it."""
        try:
            return self._next(self.read(await self.send(call), job), job)
        except Retryable:
            if failures + 1 >= MAX_POLL_FAILURES:
                raise
            return Poll(ask=lambda: self._ask(call, job, failures + 1))

    async def send(self, call: Call) -> Any:
        """One call with the vendor's auth; moderation errors become the client's 400."""
        if not self.downloads.allowed(call.url):
            raise malformed(self.label, "a job URL on a host it does not declare")
        data = None
        if call.form is not None or call.files:
            data = aiohttp.FormData(default_to_multipart=True)
            for name, value in call.form or ():
                data.add_field(name, value)
            for part in call.files:
                data.add_field(part.name, part.data, filename=part.filename, content_type=part.content_type)
        try:
            return await self.client.request_json(
                call.method,
                call.url,
                headers={**self._auth, **call.headers},
                json=call.json,
                data=data,
                parse_error=self.parse_error,
            )
        except ProviderError as error:
            if error.code == CONTENT_POLICY and not isinstance(error, ClientFault):
                raise moderated(self.vendor, error.message) from None
            raise

    async def _quietly(self, call: Call) -> None:
        # The job ends on its own anyway; the cancel only saves the vendor's time and our money.
        with contextlib.suppress(ProviderError, TimeoutError):
            await asyncio.wait_for(self.send(call), timeout=10)

    async def _image(self, image: Image) -> GeneratedImage:
        if image.b64 is not None:
            try:
                head = base64.b64decode(image.b64[:64] + "=" * (-len(image.b64[:64]) % 4))
            except (binascii.Error, ValueError):
                raise malformed(self.label) from None
            return GeneratedImage(format=image_format(head, image.format or "png"), b64=image.b64)
        if image.url is None:
            raise malformed(self.label)
        spool = await self.downloads.fetch(self.client.session(), image.url)
        return GeneratedImage(format=image_format(spool.head, image.format or "png"), spool=spool)

    async def close(self) -> None:
        await self._background.drain()
        await self.client.close()
