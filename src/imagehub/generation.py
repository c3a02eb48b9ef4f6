"""The generation service: validate, check the key's limits, reserve, route, store, settle.

No HTTP in here. Every path out of `generate` leaves the ledger consistent: a reservation is
settled for what was delivered, or released in full, and files already stored for a request
that fails after all are deleted.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from dataclasses import dataclass, field

from imagehub import metrics
from imagehub.accounts.completion import run_to_completion
from imagehub.accounts.keys import KeyInfo
from imagehub.accounts.ledger import Ledger, Reservation
from imagehub.billing.pricing import AUTO_QUALITY, BilledTerms, PriceBook, billed_terms
from imagehub.catalog import Catalog
from imagehub.catalog.validate import validate_generation
from imagehub.errors import Forbidden, HubError, InvalidRequest
from imagehub.inputs import InputLoader
from imagehub.jobs import GeneratedImage, GenerationResult, ImageJob
from imagehub.protocol import ImageGenerationRequest
from imagehub.routing import Router
from imagehub.sources import request_sources
from imagehub.storage import ImageStore, StoredImage, UrlSigner

log = logging.getLogger("imagehub.generation")

FILES_PATH = "/api/images/files/"
DEFAULT_MODEL = "dall-e-2"
UNPARSED_MODEL = "(unparsed)"
#: What a request that ended because its client hung up is recorded with (nginx's status for it).
CLIENT_CLOSED_STATUS = 499
CLIENT_CLOSED_CODE = "client_disconnected"


def new_request_id() -> str:
    """`req_` + the time in ms (12 hex digits) + 64 random bits (16 hex digits).

    Time first, so ids sort by when they were made: the usage table's primary-key index then
    grows at its end instead of taking each insert in a random leaf page. With random ids every
    batched row dirtied its own index page (three or four page writes per request in SQLite's WAL
    at c16); the random half keeps ids unique across processes and hubs.
    """
    return f"req_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"


@dataclass(slots=True)
class RequestContext:
    """One request's identity and record-keeping, shared by the API layer and the service.

    `recorded` turns true once the request has its usage record (a refusal written, or a
    reservation whose settle or release will finish the record). Whatever layer sees the request
    end without one writes it, so every request ends with exactly one.
    """

    request_id: str = field(default_factory=new_request_id)
    client_did: str | None = None
    model: str = UNPARSED_MODEL
    recorded: bool = False


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
        store: ImageStore,
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
        """Serve one request; whatever ends it (a refusal, a failure, a cancel), it is on record."""
        context = context or RequestContext()
        context.model = request.model or DEFAULT_MODEL
        try:
            job = await self.prepare(request, key)
        except HubError as error:
            await self.record_rejected(key, context, error)
            raise
        context.model = job.spec.name
        quote = 0 if key.sandbox else self.prices.quote(job)
        reservation = await self._reserve(job, key, quote, context)
        created = int(time.time())
        try:
            result = await self.router.generate(job, sandbox=key.sandbox)
        except BaseException as error:
            await self._release(reservation, error)
            raise
        stored: list[StoredImage] = []
        try:
            if job.response_format == "url":
                stored = await self._store_all(result.images)
                data = self._url_items(result.images, stored, base_url)
            else:
                data = [_b64_item(image) for image in result.images]
            terms = billed_terms(job, result)
            price = 0 if key.sandbox else self.prices.settle(job, result, quote, terms)
            echo = _echo(job, result, terms)
        except BaseException as error:
            await self._delete(stored)
            await self._release(reservation, error, provider=result.provider)
            raise
        await self._settle(reservation, stored, price, result, terms)
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
        """Reserve the quote; a cancel mid-way lets the transaction end, then gives the money back."""
        metered = quote > 0 and (key.balance_micros is not None or key.budget_micros is not None)
        reserving = self.ledger.reserve(
            request_id=context.request_id,
            key_id=key.id,
            amount=quote,
            model=job.spec.name,
            size=job.size,
            quality=job.quality,
            n=job.n,
            client_did=context.client_did,
            metered=metered,
        )
        if self.ledger.journaled(metered):
            reservation = await reserving  # journaling never suspends: nothing can interrupt it
            context.recorded = True
            return reservation
        done = await run_to_completion(reserving)
        if done.error is None:
            context.recorded = True
        if done.cancelled:
            if done.value is not None:
                await self._release(done.value, asyncio.CancelledError())
            raise asyncio.CancelledError
        if isinstance(done.error, HubError):
            await self.record_rejected(key, context, done.error)
        return done.result()

    async def _settle(
        self,
        reservation: Reservation,
        stored: list[StoredImage],
        price: int,
        result: GenerationResult,
        terms: BilledTerms,
    ) -> None:
        """Charge for what is about to be delivered; if the client is gone by the end, charge nothing."""
        settling = self.ledger.settle(
            reservation,
            price=price,
            provider=result.provider,
            n_delivered=len(result.images),
            size=terms.size,
            quality=terms.quality or "",
        )
        if reservation.journal is not None:
            await settling  # never suspends, so no cancel can land between settling and answering
            return
        done = await run_to_completion(settling)
        if not done.cancelled and done.error is None:
            return
        await self._delete(stored)
        if done.error is not None:
            await self._release(reservation, done.error, provider=result.provider)
            raise done.error
        if done.value:  # settled, but nobody will read the answer: take the charge back
            voiding = self.ledger.void(
                reservation,
                charged=min(price, reservation.amount),
                status_code=CLIENT_CLOSED_STATUS,
                error_code=CLIENT_CLOSED_CODE,
            )
            voided = await run_to_completion(voiding)
            if voided.error is not None:
                log.error("could not void the settlement of %s: %r", reservation.request_id, voided.error)
        raise asyncio.CancelledError

    async def _release(
        self, reservation: Reservation, error: BaseException, provider: str | None = None
    ) -> None:
        """Refund in full, even if the request is cancelled meanwhile; `error` says why."""
        status, code = outcome_of(error)
        releasing = self.ledger.release(reservation, status_code=status, error_code=code, provider=provider)
        if reservation.journal is not None:
            await releasing
            return
        done = await run_to_completion(releasing)
        if done.error is not None:  # the row stays pending; recover_stale refunds it later
            log.error("could not release %s: %r", reservation.request_id, done.error)
        if done.cancelled and not isinstance(error, asyncio.CancelledError):
            raise asyncio.CancelledError

    async def record_rejected(self, key: KeyInfo, context: RequestContext, error: BaseException) -> None:
        """Put a request that ended without a reservation on record, once; never interrupted."""
        if context.recorded:
            return
        context.recorded = True
        status, code = outcome_of(error)
        await self.record_outcome(key, context, status, code, state="rejected")

    async def record_outcome(
        self, key: KeyInfo, context: RequestContext, status: int, code: str | None, *, state: str
    ) -> None:
        context.recorded = True
        recording = self.ledger.record_rejected(
            request_id=context.request_id,
            key_id=key.id,
            model=context.model,
            status_code=status,
            error_code=code,
            client_did=context.client_did,
            state=state,
        )
        if self.ledger.journals_rejections:
            await recording
            return
        done = await run_to_completion(recording)
        if done.error is not None:
            log.error("could not record %s: %r", context.request_id, done.error)
        if done.cancelled:
            raise asyncio.CancelledError

    async def _delete(self, stored: list[StoredImage]) -> None:
        """Free what a failed request stored; never raises over the error that ended it."""
        if not stored:
            return
        done = await run_to_completion(self.store.delete([item.name for item in stored]))
        if done.error is not None:  # left for the sweeper, at its expiry
            log.error("could not delete %d stored image(s): %r", len(stored), done.error)

    async def _store_all(self, images: list[GeneratedImage]) -> list[StoredImage]:
        """Store every image or none: on any failure or cancel, images already stored are removed.

        Each `put` itself leaves nothing behind when it fails or is cancelled (see storage/base.py);
        a store that is down raises StoreUnavailable (503), which releases the reservation.
        """
        expires = int(time.time()) + self.url_ttl_seconds
        stored: list[StoredImage] = []
        try:
            for image in images:
                data = image.data if image.data is not None else base64.b64decode(image.b64 or "")
                stored.append(await self.store.put(data, image.format, expires))
                metrics.BYTES_STORED.inc(len(data))
        except BaseException:
            await self._delete(stored)
            raise
        return stored

    def _url_items(
        self, images: list[GeneratedImage], stored: list[StoredImage], base_url: str
    ) -> list[dict[str, str]]:
        items = []
        for image, item in zip(images, stored, strict=True):
            query = self.signer.query(item.name, item.expires)
            entry = {"url": item.url or f"{base_url}{FILES_PATH}{item.name}?{query}"}
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


def outcome_of(error: BaseException) -> tuple[int, str]:
    """The status and code a request that ended with `error` is recorded with."""
    if isinstance(error, HubError):
        return error.status, error.code or error.type
    if isinstance(error, asyncio.CancelledError):
        return CLIENT_CLOSED_STATUS, CLIENT_CLOSED_CODE
    return 500, type(error).__name__


def _b64_item(image: GeneratedImage) -> dict[str, str]:
    b64 = image.b64 if image.b64 is not None else base64.b64encode(image.data or b"").decode("ascii")
    entry = {"b64_json": b64}
    if image.revised_prompt is not None:
        entry["revised_prompt"] = image.revised_prompt
    return entry


def _echo(job: ImageJob, result: GenerationResult, terms: BilledTerms) -> dict[str, object]:
    """GPT image models echo the parameters they used, as OpenAI's response does.

    The upstream's own report wins; otherwise the terms the request is billed at (so the echo, the
    usage record and the charge agree).
    """
    if not job.spec.reports_echo:
        return {}
    echo: dict[str, object] = {
        "background": "transparent" if job.background == "transparent" else "opaque",
        "output_format": job.output_format,
        "size": terms.size,
        "quality": terms.quality or AUTO_QUALITY,
    }
    echo.update(result.echo or {})
    if result.usage is not None:
        echo["usage"] = result.usage
    return echo
