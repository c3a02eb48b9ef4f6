"""kill -9 under load, several rounds: every answer a client received is on record after restart.

Unmetered keys (live with no balance or budget, and sandbox) keep their records in the usage
journal until a batch insert. Clients use the official SDK: whole answers, streams read to their
completed event, and edits. `IMAGEHUB_KILL_ROUNDS` raises the rounds (bench/RESULTS.md ran 10).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path

import openai
import pytest

from tests.billing_hub import BillingHub, billing_hub
from tests.hangups import settled_records
from tests.payloads import png

ROUNDS = int(os.environ.get("IMAGEHUB_KILL_ROUNDS", "3"))


def _one(client: openai.OpenAI, kind: int) -> str | None:
    """One request; its id if the client received the whole answer, else None."""
    try:
        if kind == 0:
            raw = client.images.with_raw_response.generate(
                model="dall-e-2", prompt="kill", size="256x256", response_format="b64_json"
            )
            raw.parse()
            return raw.headers["x-request-id"]
        if kind == 1:
            stream = client.images.generate(model="gpt-image-1", prompt="kill", stream=True, partial_images=1)
            with stream:
                done = any(event.type == "image_generation.completed" for event in stream)
            return stream.response.headers["x-request-id"] if done else None
        raw_edit = client.images.with_raw_response.edit(
            model="gpt-image-1", image=("in.png", png()), prompt="kill"
        )
        raw_edit.parse()
        return raw_edit.headers["x-request-id"]
    except (openai.APIError, ValueError, KeyError):
        return None  # cut off by the kill: the client did not receive an answer


def _load(clients: list[openai.OpenAI], delivered: list[str], stop: threading.Event, seed: int) -> None:
    kind = seed
    while not stop.is_set():
        client = clients[kind % len(clients)]
        request_id = _one(client, kind % 3)
        if request_id is not None:
            delivered.append(request_id)
        else:
            time.sleep(0.01)
        kind += 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_every_answer_received_before_kill_9_has_exactly_one_record(tmp_path: Path, backend: str) -> None:
    with billing_hub(tmp_path, backend) as billing:
        live_id, live_secret = billing.new_key()  # no balance, no budget: journaled
        sandbox = billing.admin("POST", "/api/admin/keys", {"name": "sandbox", "mode": "sandbox"}).json()
        clients = [billing.sdk(live_secret), billing.sdk(sandbox["secret"])]
        delivered: list[str] = []
        for round_ in range(ROUNDS):
            stop = threading.Event()
            workers = [
                threading.Thread(target=_load, args=(clients, delivered, stop, seed), daemon=True)
                for seed in range(6)
            ]
            for worker in workers:
                worker.start()
            time.sleep(1.0 + 0.13 * (round_ % 5))
            _kill_and_restart(billing, stop, workers)
        lost = _lost(billing, [live_id, sandbox["id"]], delivered)
        received = len(delivered)
        print(
            f"{backend}: {ROUNDS} kill -9 rounds: {received} answers received, {len(lost)} without a record"
        )
        assert delivered and not lost, f"received but not on record: {lost[:5]}"


def _kill_and_restart(billing: BillingHub, stop: threading.Event, workers: list[threading.Thread]) -> None:
    assert billing.hub.process is not None
    billing.hub.process.kill()
    billing.hub.process.wait()
    stop.set()
    for worker in workers:
        worker.join(timeout=60)
    billing.hub.start()


def _lost(billing: BillingHub, key_ids: list[str], delivered: list[str]) -> list[str]:
    """Ids the clients received with no settled record, or with more than one record."""
    records = []
    for key_id in key_ids:
        records += settled_records(billing, key_id, 0)
    count = Counter(str(record["request_id"]) for record in records)
    states = {str(record["request_id"]): record["state"] for record in records}
    return [rid for rid in delivered if count[rid] != 1 or states[rid] != "settled"]
