"""One streamed request, from its first provider item to its settlement.

The service opens a stream only once the request is validated, reserved, and its provider has
produced a first item, so every refusal before that is an ordinary HTTP error. From then on the
client receives events: previews as they come, a completed event per image as soon as it is
ready (stored first for `url`). The request is settled just before its last completed event; if
it ends earlier (the client hangs up, the upstream fails), `close` charges what the client had
received by then, as a whole answer would have been charged for those images, and releases the
rest. `close` is called whatever happens, by the response that sends the events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from imagehub.accounts.books import RequestContext
from imagehub.accounts.keys import KeyInfo
from imagehub.accounts.ledger import Reservation
from imagehub.billing.pricing import AUTO_QUALITY, billed_terms
from imagehub.concurrency.completion import run_to_completion
from imagehub.errors import HubError
from imagehub.observability import metrics
from imagehub.schema.events import PartialImage, StreamItem
from imagehub.schema.images import GeneratedImage, GenerationResult, ImageJob
from imagehub.schema.wire import ImageGenerationRequest
from imagehub.service.fitting import fit_image
from imagehub.service.generation import GenerationService, b64_item
from imagehub.storage import StoredImage
from imagehub.upstream.routing import ModelGoneUpstream, RestOfStream

log = logging.getLogger("imagehub.streaming")

#: What `usage` says on a completed event when the upstream reported none (OpenAI's shape).
NO_USAGE: dict[str, Any] = {
    "input_tokens": 0,
    "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
    "output_tokens": 0,
    "total_tokens": 0,
}

Event = tuple[str, dict[str, Any]]  # (type, payload); the payload carries the type too


@dataclass
class GenerationStream:
    """The events of one streamed request, and the money behind them."""

    service: GenerationService
    job: ImageJob
    sandbox: bool
    reservation: Reservation
    quote: int
    first: StreamItem
    items: RestOfStream
    base_url: str
    prefix: str  # "image_generation" or "image_edit"
    provider: str = ""
    delivered: list[GeneratedImage] = field(default_factory=list)
    finished: bool = False  # the books are closed (settled in full, or ended early)
    settled: bool = False  # settled in full: every image charged, the last about to go out
    _unsent: list[StoredImage] = field(default_factory=list)
    _events: AsyncGenerator[Event, None] | None = None

    def events(self) -> AsyncIterator[Event]:
        """The request's events; iterate once. An image counts as delivered once the consumer
        asks for the event after its completed event (it has been sent by then)."""
        self._events = self._produce()
        return self._events

    async def _produce(self) -> AsyncGenerator[Event, None]:
        held: GeneratedImage | None = None  # the last image waits for the settlement
        try:
            async for item in self._items():
                if isinstance(item, PartialImage):
                    yield self._partial(item)
                elif isinstance(item, GeneratedImage):
                    if held is not None:  # more images than asked for: the earlier one goes now
                        yield await self._completed(held, None)
                        self._sent(held)
                        held = None
                    if len(self.delivered) + 1 < self.job.n:
                        yield await self._completed(item, None)  # as soon as it is ready
                        self._sent(item)
                    else:
                        held = item  # the last one waits for the result, to settle first
                else:
                    self.provider = item.provider
                    event = await self._finish(held, item)
                    if event is not None:
                        assert held is not None
                        yield event
                        self._sent(held)
                    return
        except HubError as error:
            await self._end_early(error)
            yield "error", {"type": "error", "error": error.body()["error"]}
        except Exception as error:  # a bug must still leave the books right and the client told
            log.exception("stream of %s failed", self.reservation.request_id)
            await self._end_early(error)
            failure = HubError("The hub failed while streaming this request.", code="internal_error")
            yield "error", {"type": "error", "error": failure.body()["error"]}

    async def _items(self) -> AsyncGenerator[StreamItem, None]:
        yield self.first
        async for item in self.items:
            yield item

    def _sent(self, image: GeneratedImage) -> None:
        self.delivered.append(image)
        self._unsent.clear()

    def _partial(self, item: PartialImage) -> Event:
        job = self.job
        kind = f"{self.prefix}.partial_image"
        return kind, {
            "type": kind,
            "b64_json": item.b64,
            "partial_image_index": item.partial_index,
            "background": job.background or "auto",
            "created_at": int(time.time()),
            "output_format": item.format,
            "quality": job.quality or "auto",
            "size": f"{job.width}x{job.height}",
        }

    async def _completed(self, image: GeneratedImage, result: GenerationResult | None) -> Event:
        """The completed event of `image` (stored first for `url`); `result` for the last one."""
        job = self.job
        kind = f"{self.prefix}.completed"
        summary = result or GenerationResult(images=[image], provider=self.provider)
        terms = billed_terms(job, summary)
        image = await fit_image(image, job)
        payload: dict[str, Any] = {
            "type": kind,
            "background": "transparent" if job.background == "transparent" else "opaque",
            "created_at": int(time.time()),
            "output_format": image.format,
            "quality": terms.quality or AUTO_QUALITY,
            "size": job.asked.size if job.asked is not None and job.asked.size != "auto" else terms.size,
            "usage": (result.usage if result is not None else None) or NO_USAGE,
        }
        if job.response_format == "url":
            stored = await self.service.store_all([image])
            self._unsent.extend(stored)
            payload.update(self.service.url_items([image], stored, self.base_url)[0])
        else:
            payload.update(b64_item(image))
        return kind, payload

    async def _finish(self, held: GeneratedImage | None, result: GenerationResult) -> Event | None:
        """Settle for every image (the last one about to go), then give its completed event."""
        if held is None:
            raise HubError(
                "The upstream finished without an image.", code="upstream_bad_response", status=502
            )
        event = await self._completed(held, result)
        terms = billed_terms(self.job, result)
        price = 0 if self.sandbox else self.service.prices.settle(self.job, result, self.quote, terms)
        so_far = self._price_of(self.delivered)
        try:
            await self.service.books.settle(
                self.reservation,
                price=price,
                provider=result.provider,
                n_delivered=len(self.delivered) + 1,
                size=terms.size,
                quality=terms.quality,
                if_gone=(so_far, len(self.delivered)),
            )
        except BaseException:
            self.finished = True  # the books say what the client got; nothing more to charge
            await self.service.delete(list(self._unsent))
            raise
        self.finished = self.settled = True
        self._unsent.clear()
        metrics.IMAGES.labels(self.job.spec.name, result.provider).inc(len(result.images))
        return event

    def _price_of(self, images: list[GeneratedImage]) -> int:
        """What these images cost as a whole answer without token usage would be charged."""
        if self.sandbox or not images:
            return 0
        partial = GenerationResult(images=list(images), provider=self.provider)
        return self.service.prices.settle(self.job, partial, self.quote, billed_terms(self.job, partial))

    async def _end_early(self, error: BaseException) -> None:
        """Charge what was delivered, release the rest, delete what was stored but not sent."""
        if self.finished:
            return
        self.finished = True
        await self.service.delete(list(self._unsent))
        self._unsent.clear()
        terms = billed_terms(self.job, GenerationResult(images=self.delivered, provider=self.provider))
        await self.service.books.settle_partly(
            self.reservation,
            price=self._price_of(self.delivered),
            provider=self.provider,
            n_delivered=len(self.delivered),
            size=terms.size,
            quality=terms.quality,
            error=error,
        )

    async def close(self) -> None:
        """End the stream however it went: stop the upstream, then settle what was delivered.

        Called by the response after its last send, after a hang-up, or when it was cancelled.
        """
        for generator in (self._events, self.items):
            if generator is not None:  # a failure to close the upstream changes nothing for the books
                await run_to_completion(generator.aclose())
        if not self.finished:
            await self._end_early(asyncio.CancelledError())


async def open_stream(
    service: GenerationService,
    request: ImageGenerationRequest,
    key: KeyInfo,
    base_url: str,
    context: RequestContext,
) -> GenerationStream:
    """Validate, reserve and start the provider; every refusal up to here is a plain HTTP error.

    The returned stream's events carry the images; its `close` settles what was delivered.
    """
    job, quote, reservation = await service.admit(request, key, context)
    try:
        try:
            opened = await service.router.open_stream(
                job, sandbox=key.sandbox, partial_images=request.partial_images or 0
            )
        except ModelGoneUpstream:
            following = service.succeed(job, key)
            if following.spec.name == job.spec.name:
                raise
            job = following
            opened = await service.router.open_stream(
                job, sandbox=key.sandbox, partial_images=request.partial_images or 0
            )
    except BaseException as error:
        await service.books.release(reservation, error)
        raise
    return GenerationStream(
        service=service,
        job=job,
        sandbox=key.sandbox,
        reservation=reservation,
        quote=quote,
        first=opened.first,
        items=opened.rest,
        base_url=base_url,
        prefix="image_edit" if job.operation == "edit" else "image_generation",
        provider=opened.provider,
    )


__all__ = ["Event", "GenerationStream", "open_stream"]
