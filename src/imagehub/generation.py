"""The generation service: validate, check the key's limits, reserve, route, store, settle.

No HTTP in here. Every path out of `generate` leaves the ledger consistent: a reservation is
settled for what was delivered, or released in full, and files already stored for a request
that fails after all are deleted.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from dataclasses import dataclass, field

from imagehub import metrics
from imagehub.accounts.keys import KeyInfo
from imagehub.accounts.ledger import Ledger, Reservation
from imagehub.billing.pricing import PriceBook
from imagehub.catalog import Catalog
from imagehub.catalog.validate import validate_generation
from imagehub.errors import Forbidden, HubError, InvalidRequest
from imagehub.inputs import InputLoader
from imagehub.jobs import GeneratedImage, GenerationResult, ImageJob
from imagehub.protocol import ImageGenerationRequest
from imagehub.routing import Router
from imagehub.sources import request_sources
from imagehub.storage import FileStore, StoredImage, UrlSigner

FILES_PATH = "/api/images/files/"
# Writing a small image to the page cache takes ~0.1-0.2 ms; handing it to a worker thread and
# back cost ~1 ms of latency here (bench: url at c1 went from 343 to 516 req/s inline). Big
# images still go to a thread, so the event loop is never blocked for long.
INLINE_WRITE_BYTES = 256 * 1024


def new_request_id() -> str:
    """`req_` + the time in ms (12 hex digits) + 64 random bits (16 hex digits).

    Time first, so ids sort by when they were made: the usage table's primary-key index then
    grows at its end instead of taking each insert in a random leaf page. With random ids every
    batched row dirtied its own index page (three or four page writes per request in SQLite's WAL
    at c16); the random half keeps ids unique across processes and hubs.
    """
    return f"req_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is asking, for the usage record: the request id and, for AIGNE clients, their DID."""

    request_id: str = field(default_factory=new_request_id)
    client_did: str | None = None


@dataclass(slots=True)
class GenerationOutcome:
    """Everything the API needs to render OpenAI's ImagesResponse."""

    created: int
    data: list[dict[str, str]]
    sandbox: bool
    provider: str
    output_format: str
    echo: dict[str, object] = field(default_factory=dict)
    price_micros: int = 0


class GenerationService:
    def __init__(
        self,
        catalog: Catalog,
        router: Router,
        store: FileStore,
        signer: UrlSigner,
        url_ttl_seconds: int,
        ledger: Ledger,
        prices: PriceBook,
    ) -> None:
        self.catalog = catalog
        self.router = router
        self.store = store
        self.signer = signer
        self.url_ttl_seconds = url_ttl_seconds
        self.ledger = ledger
        self.prices = prices

    async def prepare(self, request: ImageGenerationRequest, key: KeyInfo) -> ImageJob:
        """Validate against the catalog and the key's own limits, then read the source images.

        Raises before anything is spent; image URLs are fetched only once every other check passed.
        """
        job = validate_generation(self.catalog, request)
        if key.allowed_models is not None and job.spec.name not in key.allowed_models:
            raise Forbidden(
                f"This key may not use {job.spec.name}. Allowed: {', '.join(key.allowed_models)}.",
                param="model",
                code="model_not_allowed",
            )
        if key.max_n is not None and job.n > key.max_n:
            raise InvalidRequest(
                f"'n' is {job.n}, but this key allows at most {key.max_n} images per request.",
                param="n",
                code="n_above_key_limit",
            )
        sources, mask = request_sources(request)
        if sources:
            job = await self.input_loader().load(job, sources, mask)
        return job

    async def generate(
        self,
        request: ImageGenerationRequest,
        key: KeyInfo,
        base_url: str,
        context: RequestContext | None = None,
    ) -> GenerationOutcome:
        context = context or RequestContext()
        try:
            job = await self.prepare(request, key)
        except HubError as error:
            await self.record_rejected(key, request.model or "dall-e-2", context, error)
            raise
        quote = 0 if key.sandbox else self.prices.quote(job)
        try:
            reservation = await self._reserve(job, key, quote, context)
        except HubError as error:
            await self.record_rejected(key, job.spec.name, context, error)
            raise
        created = int(time.time())
        try:
            result = await self.router.generate(job, sandbox=key.sandbox)
        except BaseException as error:
            await _release(self.ledger, reservation, error)
            raise
        stored: list[StoredImage] = []
        try:
            if job.response_format == "url":
                stored = await self._store_all(result.images)
                data = self._url_items(result.images, stored, base_url)
            else:
                data = [_b64_item(image) for image in result.images]
            price = 0 if key.sandbox else self.prices.settle(job, result, quote)
            echo = _echo(job, result)
            await self.ledger.settle(
                reservation,
                price=price,
                provider=result.provider,
                n_delivered=len(result.images),
                size=str(echo.get("size") or job.size),
                quality=str(echo.get("quality") or job.quality or ""),
            )
        except BaseException as error:
            for item in stored:
                self.store.delete(item.name)
            await _release(self.ledger, reservation, error, provider=result.provider)
            raise
        metrics.IMAGES.labels(job.spec.name, result.provider).inc(len(result.images))
        return GenerationOutcome(
            created=created,
            data=data,
            sandbox=result.sandbox,
            provider=result.provider,
            output_format=result.images[0].format if result.images else job.output_format,
            echo=echo,
            price_micros=price,
        )

    async def _reserve(self, job: ImageJob, key: KeyInfo, quote: int, context: RequestContext) -> Reservation:
        return await self.ledger.reserve(
            request_id=context.request_id,
            key_id=key.id,
            amount=quote,
            model=job.spec.name,
            size=job.size,
            quality=job.quality,
            n=job.n,
            client_did=context.client_did,
            metered=quote > 0 and (key.balance_micros is not None or key.budget_micros is not None),
        )

    async def record_rejected(
        self, key: KeyInfo, model: str, context: RequestContext, error: HubError
    ) -> None:
        await self.ledger.record_rejected(
            request_id=context.request_id,
            key_id=key.id,
            model=model,
            status_code=error.status,
            error_code=error.code,
            client_did=context.client_did,
        )

    async def _store_all(self, images: list[GeneratedImage]) -> list[StoredImage]:
        """Store every image or none: on any failure, files already written are removed."""
        expires = int(time.time()) + self.url_ttl_seconds
        stored: list[StoredImage] = []
        try:
            for image in images:
                data = image.data if image.data is not None else base64.b64decode(image.b64 or "")
                if len(data) <= INLINE_WRITE_BYTES:
                    stored.append(self.store.put(data, image.format, expires))
                else:
                    stored.append(await asyncio.to_thread(self.store.put, data, image.format, expires))
                metrics.BYTES_STORED.inc(len(data))
        except BaseException:
            for item in stored:
                self.store.delete(item.name)
            raise
        return stored

    def _url_items(
        self, images: list[GeneratedImage], stored: list[StoredImage], base_url: str
    ) -> list[dict[str, str]]:
        items = []
        for image, item in zip(images, stored, strict=True):
            entry = {"url": f"{base_url}{FILES_PATH}{item.name}?{self.signer.query(item.name, item.expires)}"}
            if image.revised_prompt is not None:
                entry["revised_prompt"] = image.revised_prompt
            items.append(entry)
        return items

    def configure_inputs(self, loader: InputLoader) -> None:
        """Wiring, once at start-up: how this hub reads source images (URL policy, size caps)."""
        self._input_loader = loader

    def input_loader(self) -> InputLoader:
        """The configured InputLoader; a default one (no allowlist) if none was wired in."""
        loader: InputLoader | None = getattr(self, "_input_loader", None)
        if loader is None:
            loader = self._input_loader = InputLoader()
        return loader


async def _release(
    ledger: Ledger, reservation: Reservation, error: BaseException, provider: str | None = None
) -> None:
    """Refund in full; shielded so that a cancelled request still gives its money back."""
    status = (
        error.status
        if isinstance(error, HubError)
        else (499 if isinstance(error, asyncio.CancelledError) else 500)
    )
    code = error.code if isinstance(error, HubError) else type(error).__name__
    await asyncio.shield(ledger.release(reservation, status_code=status, error_code=code, provider=provider))


def _b64_item(image: GeneratedImage) -> dict[str, str]:
    b64 = image.b64 if image.b64 is not None else base64.b64encode(image.data or b"").decode("ascii")
    entry = {"b64_json": b64}
    if image.revised_prompt is not None:
        entry["revised_prompt"] = image.revised_prompt
    return entry


def _echo(job: ImageJob, result: GenerationResult) -> dict[str, object]:
    """GPT image models echo the parameters they used, as OpenAI's response does.

    The upstream's own report wins; the sandbox's is derived from the job.
    """
    if not job.spec.reports_echo:
        return {}
    echo: dict[str, object] = {
        "background": "transparent" if job.background == "transparent" else "opaque",
        "output_format": job.output_format,
        "size": f"{job.width}x{job.height}",
        "quality": job.quality if job.quality in ("low", "medium", "high") else "medium",
    }
    echo.update(result.echo or {})
    if result.usage is not None:
        echo["usage"] = result.usage
    return echo
