"""The generation service: validate, check the key's limits, reserve, route, store, settle.

No HTTP in here. Every path out of `generate` leaves the ledger consistent: a reservation is
settled for what was delivered, or released in full, and files already stored for a request
that fails after all are deleted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from imagehub.accounts.books import (
    Books,
    Hold,
    RequestContext,
)
from imagehub.accounts.keys import KeyInfo
from imagehub.accounts.ledger import Ledger, Reservation
from imagehub.billing.pricing import AUTO_QUALITY, BilledTerms, PriceBook, billed_terms
from imagehub.catalog import Catalog, today
from imagehub.concurrency.completion import run_to_completion
from imagehub.errors import Forbidden, HubError, InvalidRequest
from imagehub.inputs.decoding import InputLoader
from imagehub.inputs.sources import request_sources
from imagehub.observability import metrics
from imagehub.payloads import codec
from imagehub.payloads.spool import Spool
from imagehub.schema.images import GeneratedImage, GenerationResult, ImageJob
from imagehub.schema.wire import ImageGenerationRequest
from imagehub.service.fitting import fit_result
from imagehub.service.succession import Serves, plan, refuse_if_told, serving_model
from imagehub.service.validation import default_model, validate_generation
from imagehub.storage import ImageStore, StoredImage, UrlSigner
from imagehub.upstream.routing import ModelGoneUpstream, Router

log = logging.getLogger("imagehub.generation")

FILES_PATH = "/api/images/files/"


@dataclass(slots=True)
class GenerationOutcome:
    """Everything the API needs to render OpenAI's ImagesResponse."""

    created: int
    data: list[dict[str, Any]]  # `b64_json` may be a Spool: rendered a chunk at a time, then closed
    sandbox: bool
    provider: str
    output_format: str
    echo: dict[str, object] = field(default_factory=dict)
    price_micros: int = 0
    job: ImageJob | None = None  # what was served: the successor's job when `job.asked` is set


@dataclass(slots=True)
class Produced:
    """A generated, stored and priced answer that is not yet settled."""

    outcome: GenerationOutcome
    stored: list[StoredImage]
    n_delivered: int
    size: str | None
    quality: str | None


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
        self.books = Books(ledger)
        self.prices = prices

    async def prepare(self, request: ImageGenerationRequest, key: KeyInfo) -> ImageJob:
        """Validate against the catalog and the key's own limits, then read the source images.

        Raises before anything is spent; image URLs are fetched only once every other check passed.
        A retired model's job comes back as its successor's (see `succession`).
        """
        refuse_if_told(self.catalog, request.model or default_model(request))
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
        served = self.succeed(job, key)
        if not key.sandbox:
            self.prices.require_price(served)  # the model that serves it is the one charged
        return served

    def succeed(self, job: ImageJob, key: KeyInfo) -> ImageJob:
        """`job` while its model is served today, else its successor's (the sandbox alike)."""
        on = today()
        return plan(self.catalog, job, *self.lifecycle_view(key, job.provider), on)

    def lifecycle_view(self, key: KeyInfo, pinned: str | None = None) -> tuple[Serves, Serves]:
        """(serves, gone) as this key sees them: the sandbox serves what the catalog says is live."""
        if key.sandbox:
            return (lambda model: not self.catalog.retired(model)), (lambda model: False)
        return (lambda model: self.router.serves(model, pinned)), self.router.reported_gone

    def served_by(self, name: str, key: KeyInfo) -> str | None:
        """The model that serves `name` for this key today (itself, a successor, or None)."""
        return serving_model(self.catalog, name, *self.lifecycle_view(key), today())

    async def served(self, job: ImageJob, key: KeyInfo) -> tuple[ImageJob, GenerationResult]:
        """Route the job; a model the upstreams no longer know is served by its successor."""
        for _ in range(len(self.catalog.chain(job.spec.name))):
            try:
                return job, await self.router.generate(job, sandbox=key.sandbox)
            except ModelGoneUpstream:
                following = self.succeed(job, key)
                if following.spec.name == job.spec.name:
                    raise
                job = following
        return job, await self.router.generate(job, sandbox=key.sandbox)

    async def generate(
        self,
        request: ImageGenerationRequest,
        key: KeyInfo,
        base_url: str,
        context: RequestContext | None = None,
    ) -> GenerationOutcome:
        """Serve one request; whatever ends it (a refusal, a failure, a cancel), it is on record."""
        job, quote, reservation = await self.admit(request, key, context or RequestContext())
        produced = await self.produce(job, quote, reservation, key, base_url)
        await self.settle(produced, reservation)
        return produced.outcome

    async def produce(
        self,
        job: ImageJob,
        quote: int,
        reservation: Reservation,
        key: KeyInfo,
        base_url: str,
        url_ttl_seconds: int | None = None,
    ) -> Produced:
        """Route, store and price an admitted request; on any failure the reservation is released.

        Settling is the caller's next step (`settle`): a durable job first records its result,
        then settles, so a crash in between leaves a result to settle rather than a charge
        without one.
        """
        created = int(time.time())
        try:
            job, result = await self.served(job, key)
            result = await fit_result(result, job)
        except BaseException as error:
            await self.books.release(reservation, error)
            raise
        try:
            return await self._deliverable(
                job, result, quote, reservation, key, base_url, created, url_ttl_seconds
            )
        except BaseException:
            close_images(result.images)
            raise

    async def _deliverable(
        self,
        job: ImageJob,
        result: GenerationResult,
        quote: int,
        reservation: Reservation,
        key: KeyInfo,
        base_url: str,
        created: int,
        url_ttl_seconds: int | None,
    ) -> Produced:
        """Store (for `url`) and price what the upstream made; on failure, nothing stays stored."""
        stored: list[StoredImage] = []
        try:
            if job.response_format == "url":
                stored = await self.store_all(result.images, url_ttl_seconds)
                data = self.url_items(result.images, stored, base_url)
            else:
                data = [b64_item(image) for image in result.images]
            terms = billed_terms(job, result)
            price = 0 if key.sandbox else self.prices.settle(job, result, quote, terms)
            echo = _echo(job, result, terms)
        except BaseException as error:
            await self.delete(stored)
            await self.books.release(reservation, error, provider=result.provider)
            raise
        outcome = GenerationOutcome(
            created=created,
            data=data,
            sandbox=result.sandbox,
            provider=result.provider,
            output_format=result.images[0].format if result.images else job.output_format,
            echo=echo,
            price_micros=price,
            job=job,
        )
        metrics.IMAGES.labels(job.spec.name, result.provider).inc(len(result.images))
        return Produced(outcome, stored, len(result.images), terms.size, terms.quality)

    async def settle(self, produced: Produced, reservation: Reservation) -> None:
        """Charge for what `produce` made; if that fails (or is cancelled), its files go."""
        try:
            await self.books.settle(
                reservation,
                price=produced.outcome.price_micros,
                provider=produced.outcome.provider,
                n_delivered=produced.n_delivered,
                size=produced.size,
                quality=produced.quality,
            )
        except BaseException:
            await self.delete(produced.stored)  # not delivered after all: the failure is on record
            close_outcome(produced.outcome)
            raise

    async def admit(
        self,
        request: ImageGenerationRequest,
        key: KeyInfo,
        context: RequestContext,
        *,
        durable: bool = False,
    ) -> tuple[ImageJob, int, Reservation]:
        """Validate and reserve; a refusal is put on record before it is raised.

        `durable`: the reservation must outlive this process (an asynchronous job), so it is held
        in the database even for a key without limits, never in the in-memory journal.
        """
        context.model = request.model or default_model(request)
        try:
            job = await self.prepare(request, key)
        except HubError as error:
            await self.record_rejected(key, context, error)
            raise
        asked, context.model = context.model, job.spec.name
        quote = 0 if key.sandbox else self.prices.quote(job)
        requested = asked if asked != job.spec.name else None
        return job, quote, await self._reserve(job, key, quote, context, durable, requested)

    async def _reserve(
        self,
        job: ImageJob,
        key: KeyInfo,
        quote: int,
        context: RequestContext,
        durable: bool,
        requested: str | None,
    ) -> Reservation:
        limited = key.balance_micros is not None or key.budget_micros is not None
        metered = durable or (quote > 0 and limited)
        hold = Hold(key.id, quote, metered, job.spec.name, job.size, job.quality, job.n, requested)
        return await self.books.reserve(context, hold)

    async def record_rejected(self, key: KeyInfo, context: RequestContext, error: BaseException) -> None:
        """Put a request that ended without a reservation on record, once; never interrupted."""
        await self.books.reject(context, key.id, error)

    async def record_outcome(
        self, key: KeyInfo, context: RequestContext, status: int, code: str | None, *, state: str
    ) -> None:
        await self.books.record(context, key.id, status, code, state=state)

    async def delete(self, stored: list[StoredImage]) -> None:
        """Free what a failed request stored; never raises over the error that ended it.

        Every caller re-raises what ended the request, so a cancel here only waits for the delete.
        """
        if not stored:
            return
        done = await run_to_completion(self.store.delete([item.name for item in stored]))
        if done.error is not None:  # left for the sweeper, at its expiry
            log.error("could not delete %d stored image(s): %r", len(stored), done.error)

    async def store_all(
        self, images: list[GeneratedImage], ttl_seconds: int | None = None
    ) -> list[StoredImage]:
        """Store every image or none: on any failure or cancel, images already stored are removed.

        Each `put` itself leaves nothing behind when it fails or is cancelled (see storage/base.py);
        a store that is down raises StoreUnavailable (503), which releases the reservation. A
        spooled image is decoded into the store a chunk at a time, and its spool closed once stored.
        """
        expires = int(time.time()) + (ttl_seconds or self.url_ttl_seconds)
        stored: list[StoredImage] = []
        try:
            for image in images:
                if image.spool is not None:
                    length = image.spool.decoded_length()
                    stored.append(
                        await self.store.put_chunks(
                            image.spool.decoded_chunks(), length, image.format, expires
                        )
                    )
                    image.close()
                else:
                    data = image.image_bytes()
                    length = len(data)
                    stored.append(await self.store.put(data, image.format, expires))
                metrics.BYTES_STORED.inc(length)
        except BaseException:
            await self.delete(stored)
            raise
        return stored

    def url_items(
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


def close_outcome(outcome: GenerationOutcome) -> None:
    """Give back the spools an outcome's `b64_json` entries hold (once sent, or when not sent)."""
    for item in outcome.data:
        value = item.get("b64_json")
        if isinstance(value, Spool):
            value.close()


def close_images(images: list[GeneratedImage]) -> None:
    """Give back the spools of images that will not be delivered."""
    for image in images:
        image.close()


def b64_item(image: GeneratedImage) -> dict[str, Any]:
    """The `b64_json` entry: the upstream's own text, a spool (streamed out), or fresh base64."""
    b64: Any
    if image.spool is not None:
        b64 = image.spool
    elif image.b64 is not None:
        b64 = image.b64
    else:
        b64 = codec.encode_str(image.data or b"")
    entry: dict[str, Any] = {"b64_json": b64}
    if image.revised_prompt is not None:
        entry["revised_prompt"] = image.revised_prompt
    return entry


def _echo(job: ImageJob, result: GenerationResult, terms: BilledTerms) -> dict[str, object]:
    """GPT image models echo the parameters they used, as OpenAI's response does.

    The upstream's own report wins; otherwise the terms the request is billed at (so the echo, the
    usage record and the charge agree).
    """
    if not job.shown_spec.reports_echo:
        return {}
    echo: dict[str, object] = {
        "background": "transparent" if job.background == "transparent" else "opaque",
        "output_format": job.output_format,
        "size": terms.size,
        "quality": terms.quality or AUTO_QUALITY,
    }
    echo.update(result.echo or {})
    if job.asked is not None and job.asked.size != "auto":
        echo["size"] = job.asked.size  # the client got the size it asked for
    if result.usage is not None:
        echo["usage"] = result.usage
    return echo
