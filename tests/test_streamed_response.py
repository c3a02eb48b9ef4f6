"""Big answers are streamed: the bytes must be exactly the JSON a small answer would have been."""

from __future__ import annotations

import asyncio
import base64
import os

import orjson

from imagehub.api.images import _stream_images_response, images_response, render_images_response
from imagehub.service.generation import GenerationOutcome


def _outcome(sizes: list[int], echo: dict[str, object]) -> GenerationOutcome:
    data = [
        {"b64_json": base64.b64encode(os.urandom(size)).decode(), "revised_prompt": 'say "hi"'}
        for size in sizes
    ]
    return GenerationOutcome(
        created=1700000000, data=data, sandbox=False, provider="openai", output_format="png", echo=echo
    )


async def _collect(outcome: GenerationOutcome) -> bytes:
    return b"".join([chunk async for chunk in _stream_images_response(outcome)])


def test_streamed_bytes_equal_the_rendered_json() -> None:
    for sizes, echo in (
        ([3_000_000, 10, 2_500_000], {"size": "1024x1024", "usage": {"total_tokens": 5}}),
        ([1], {}),
        ([], {}),
    ):
        outcome = _outcome(sizes, echo)
        assert asyncio.run(_collect(outcome)) == render_images_response(outcome)
        assert orjson.loads(asyncio.run(_collect(outcome)))["data"] == outcome.data


def test_only_big_answers_stream() -> None:
    assert type(images_response(_outcome([1000], {}), {})).__name__ == "Response"
    assert type(images_response(_outcome([2_000_000], {}), {})).__name__ == "StreamingResponse"
