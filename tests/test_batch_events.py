"""`batch.completed` is committed together with the batch's end (the outbox pattern).

A hub killed between ending a batch and queueing its event would leave a completed batch that no
receiver ever hears of. PostgreSQL lets the test state that invariant where it matters, at
commit: a deferred constraint trigger refuses any transaction that completes a batch without
its `batch.completed` delivery. The hub is then killed (kill -9) the moment the batch shows
completed, and a new hub on the same database delivers the event, signed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import httpx
import openai
import orjson
from standardwebhooks import Webhook

from tests.billing_hub import billing_hub
from tests.hub import Hub
from tests.jobs_helpers import auth
from tests.webhook_receiver import Receiver

USD = 1_000_000
ENDPOINT = "/v1/images/generations"
ENV = {"IMAGEHUB_WEBHOOK_ALLOWLIST": "127.0.0.1", "IMAGEHUB_JOB_POLL_SECONDS": "0.1"}

EVENT_WITH_THE_END = """
CREATE FUNCTION completed_batch_has_its_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'completed' AND NOT EXISTS (
        SELECT 1 FROM webhook_deliveries
        WHERE event_type = 'batch.completed' AND payload LIKE '%' || NEW.id || '%'
    ) THEN
        RAISE EXCEPTION 'batch % committed as completed without its batch.completed event', NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER completed_batch_has_its_event AFTER UPDATE ON batches
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION completed_batch_has_its_event();
"""


async def _execute(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _completed(client: openai.OpenAI, batch_id: str, seconds: float = 60) -> openai.types.Batch:
    deadline = time.monotonic() + seconds
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status == "completed":
            return batch
        assert time.monotonic() < deadline, f"batch stuck at {batch.status} {batch.request_counts}"
        time.sleep(0.05)


def test_batch_completed_survives_a_hub_killed_right_after_the_batch_ended(tmp_path: Path) -> None:
    receiver = Receiver().start()
    try:
        with billing_hub(tmp_path, "postgresql", extra_env=ENV) as billing:
            asyncio.run(_execute(billing.env["IMAGEHUB_DATABASE_URL"], EVENT_WITH_THE_END))
            _, secret = billing.new_key(balance_micros=10 * USD)
            registered = httpx.post(
                f"{billing.hub.url}/v1/webhooks/endpoints",
                json={"url": receiver.url, "events": ["batch.completed"]},
                headers=auth(secret),
                timeout=30,
            )
            assert registered.status_code == 201, registered.text
            client = billing.sdk(secret)
            lines = [
                orjson.dumps(
                    {
                        "custom_id": f"line-{index}",
                        "method": "POST",
                        "url": ENDPOINT,
                        "body": {"model": "dall-e-2", "prompt": f"event {index}", "size": "256x256"},
                    }
                )
                for index in range(3)
            ]
            uploaded = client.files.create(file=("events.jsonl", b"\n".join(lines)), purpose="batch")
            batch = client.batches.create(
                input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h"
            )
            done = _completed(client, batch.id)
            assert billing.hub.process is not None
            billing.hub.process.kill()  # no shutdown: whatever was not committed is gone
            billing.hub.process.wait(timeout=10)
            other = tmp_path / "other" / "data"
            other.mkdir(parents=True)
            successor = Hub(other, env=billing.env).start()
            try:
                received = receiver.wait_for(1)
                time.sleep(0.5)  # a second delivery of the event would show up by now
            finally:
                successor.stop()
    finally:
        receiver.stop()
    events = [Webhook(registered.json()["secret"]).verify(r.body, r.headers) for r in receiver.received]
    assert [(e["type"], e["data"]["id"]) for e in events] == [("batch.completed", batch.id)]
    assert events[0]["data"]["status"] == "completed"
    assert events[0]["data"]["output_file_id"] == done.output_file_id
    assert events[0]["data"]["request_counts"] == {"total": 3, "completed": 3, "failed": 0}
    assert len(received) >= 1
