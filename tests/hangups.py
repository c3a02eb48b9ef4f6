"""Clients that hang up, and the checks every fault test ends with: nothing lost, nothing misheld."""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import openai
import orjson

from tests.billing_hub import BillingHub
from tests.images import tiny_png

PRICE = 16_000  # dall-e-2 256x256, generation or variation
FINAL_STATES = {"settled", "released", "rejected", "replayed", "interrupted"}


async def hang_up(port: int, secret: str, body: dict[str, object], after: float) -> bool:
    """Send a whole request, wait `after` seconds, close the socket; True if an answer had come."""
    payload = orjson.dumps(body)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        "POST /api/images/generations HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {secret}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    writer.write(head.encode() + payload)
    await writer.drain()
    if after:
        await asyncio.sleep(after)
    answered = False
    with suppress(TimeoutError):
        answered = bool(await asyncio.wait_for(reader.read(1), timeout=0.0005))
    writer.transport.abort()
    return answered


@dataclass
class Bystander:
    """Another key's requests, one after another, while the faults happen: none may fail or stall."""

    billing: BillingHub
    secret: str
    hub: int = 0
    failures: list[str] = field(default_factory=list)
    served: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        # Below SQLite's 5 s busy timeout: a request stuck behind a leaked write lock fails here.
        client = openai.OpenAI(
            base_url=f"{self.billing.hubs[self.hub].url}/api", api_key=self.secret, max_retries=0, timeout=4
        )
        image = tiny_png()
        while not self._stop.is_set():
            try:
                with warnings.catch_warnings():  # the SDK marks variations deprecated; they still work
                    warnings.simplefilter("ignore", DeprecationWarning)
                    client.images.create_variation(image=image, model="dall-e-2", size="256x256")
                self.served += 1
            except openai.APIError as error:
                self.failures.append(repr(error))

    @contextmanager
    def running(self) -> Iterator[Bystander]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=30)


def settled_records(billing: BillingHub, key_id: str, count: int) -> list[dict[str, object]]:
    """The key's records once there are `count` and none is still pending (other processes batch)."""
    deadline = time.monotonic() + 20
    while True:
        records = billing.records(key_id, expected=count)
        if len(records) >= count and all(r["state"] in FINAL_STATES for r in records):
            return records
        if time.monotonic() > deadline:
            states = sorted(str(r["state"]) for r in records)
            raise AssertionError(f"{len(records)} records of {count} expected, states {states}")
        time.sleep(0.1)


def assert_books_balance(
    billing: BillingHub, key_id: str, requests: int, start_balance: int | None, price: int = PRICE
) -> list[dict[str, object]]:
    """One record per request, none pending; charges = delivered x price; balance = start - charges."""
    records = settled_records(billing, key_id, requests)
    assert len(records) == requests, f"{len(records)} records for {requests} requests"
    charged = 0
    for record in records:
        price_micros, delivered = int(str(record["price_micros"])), int(str(record["n_delivered"]))
        if record["state"] == "settled":
            assert record["status_code"] == 200 and price_micros == delivered * price, record
        else:
            assert price_micros == 0 and delivered == 0, record
        if record["status_code"] == 499:
            assert record["error_code"] == "client_disconnected", record
        charged += price_micros
    key = billing.key(key_id)
    if start_balance is not None:
        assert key["balance_micros"] == start_balance - charged, "the balance agrees with the records"
    return records
