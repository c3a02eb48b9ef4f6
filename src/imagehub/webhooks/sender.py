"""The delivery loop: POST each due delivery, signed; on failure retry with exponential backoff.

The schedule (with the default base of 5 s): 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h,
8 h: ten attempts over about 16 hours, then the delivery is `failed` (still in the log). Any 2xx
answer is success; anything else, a timeout or a refused target is a failed attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import aiohttp
from standardwebhooks import Webhook

from imagehub.inputs.netguard import AddressPolicy
from imagehub.observability import metrics
from imagehub.webhooks.models import DELIVERED, FAILED, WebhookDeliveryRow
from imagehub.webhooks.store import WebhookStore, now_ms
from imagehub.webhooks.targets import PinnedResolver, TargetRefused, parse_target, vetted_addresses

log = logging.getLogger("imagehub.webhooks")

#: Multiples of the base delay before attempts 2, 3, …; after the last one the delivery fails.
BACKOFF = (1, 6, 24, 120, 360, 720, 1440, 2880, 5760)
TIMEOUT_SECONDS = 10.0


def signed_headers(secret: str, message_id: str, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (signed with the current time)."""
    moment = datetime.now(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, moment, body),
        "content-type": "application/json",
        "user-agent": "imagehub-webhooks",
    }


class WebhookSender:
    def __init__(
        self,
        store: WebhookStore,
        policy: AddressPolicy,
        *,
        base_delay: float = 5.0,
        poll_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self.policy = policy
        self.base_delay = base_delay
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run_forever(self) -> None:
        while True:
            try:
                due = await self.store.claim_due(lease_ms=int(TIMEOUT_SECONDS * 3000), limit=20)
                if due:
                    await asyncio.gather(*(self._attempt(row) for row in due))
                    continue
            except Exception:
                log.exception("webhook delivery loop failed; will retry")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def _attempt(self, row: WebhookDeliveryRow) -> None:
        endpoint = await self.store.endpoint(row.endpoint_id)
        if endpoint is None:  # removed meanwhile
            await self.store.record_attempt(row.id, {"status": FAILED, "last_error": "endpoint removed"})
            return
        status: int | None = None
        error: str | None = None
        try:
            status = await self._post(
                endpoint.url, signed_headers(endpoint.secret, row.id, row.payload), row.payload
            )
        except TargetRefused as refused:
            error = refused.message
        except (aiohttp.ClientError, TimeoutError, OSError) as failure:
            error = f"{type(failure).__name__}: {failure}"[:500]
        attempts = row.attempts + 1
        if status is not None and 200 <= status < 300:
            metrics.WEBHOOK_DELIVERIES.labels("delivered").inc()
            await self.store.record_attempt(
                row.id,
                {
                    "status": DELIVERED,
                    "attempts": attempts,
                    "last_status_code": status,
                    "delivered_at": now_ms(),
                },
            )
            return
        metrics.WEBHOOK_DELIVERIES.labels("failed").inc()
        values: dict[str, object] = {
            "attempts": attempts,
            "last_status_code": status,
            "last_error": error or f"HTTP {status}",
        }
        if attempts > len(BACKOFF):
            values["status"] = FAILED
        else:
            values["next_attempt_at"] = now_ms() + int(self.base_delay * BACKOFF[attempts - 1] * 1000)
        await self.store.record_attempt(row.id, values)

    async def _post(self, url_text: str, headers: dict[str, str], body: str) -> int:
        url = parse_target(url_text)
        addresses = await vetted_addresses(url, self.policy)
        connector = aiohttp.TCPConnector(
            resolver=PinnedResolver(addresses), use_dns_cache=False, force_close=True
        )
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session,
            session.post(url, data=body.encode(), headers=headers, allow_redirects=False) as response,
        ):
            await response.read()
            return response.status
