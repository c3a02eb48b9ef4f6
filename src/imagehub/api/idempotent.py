"""Idempotency-Key on the generation route: claim the key, or answer with the original response.

A streamed request's stored response is the completed events it sent, as an event stream, so a
replay (which streams nothing new: no previews, no second charge) iterates in the SDK like the
original did, minus the partial images.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from imagehub.accounts.idempotency import IdempotencyStore, StoredResponse, body_hash
from imagehub.accounts.keys import KeyInfo
from imagehub.concurrency.completion import run_to_completion

log = logging.getLogger("imagehub.api")


@dataclass(frozen=True, slots=True)
class Claim:
    """This request holds the Idempotency-Key: it must keep its response, or free the key."""

    store: IdempotencyStore
    key_id: str
    idempotency_key: str

    async def keep(self, response: StoredResponse) -> None:
        """Store the response for replays; if that fails, free the key (a retry generates anew)."""
        saved = await run_to_completion(self.store.complete(self.key_id, self.idempotency_key, response))
        if saved.error is not None:
            log.error(
                "could not store the response for Idempotency-Key %r: %r", self.idempotency_key, saved.error
            )
            await self.free()

    async def free(self) -> None:
        await run_to_completion(self.store.abandon(self.key_id, self.idempotency_key))


async def claim_or_replay(request: Request, key: KeyInfo, raw: bytes) -> Claim | Response | None:
    """None without an Idempotency-Key; the original response for a replay; else our claim."""
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is None:
        return None
    store: IdempotencyStore = request.app.state.idempotency
    claimed = await run_to_completion(store.claim(key.id, idempotency_key, body_hash(raw)))
    claim = Claim(store, key.id, idempotency_key)
    if claimed.cancelled:
        if claimed.error is None and claimed.value is None:  # we hold the claim: free it
            await claim.free()
        raise asyncio.CancelledError
    original = claimed.result()
    if original is None:
        return claim
    headers = {**original.headers, "x-idempotent-replay": "true"}
    media_type = headers.pop("content-type", "application/json")
    return Response(original.body, status_code=original.status_code, media_type=media_type, headers=headers)
