"""A fast fake OpenAI images upstream for benchmarks: one precomputed base64 PNG answer.

Deliberately minimal (no recording, no faults) so that it is never the bottleneck. An optional
delay makes it answer like an image model, after that many seconds (bench/capacity.py), and a
jitter spreads each answer's delay uniformly over DELAY ± JITTER, as a real model's varies.
The answer is ~64 KB of base64 unless ANSWER_KB says otherwise: 2500 gives a noisy ~800x800
PNG of ~2.5 MB, what a real 1024x1024 GPT image answer weighs.
Run: python bench/upstream.py PORT [DELAY_SECONDS [JITTER_SECONDS [ANSWER_KB]]]
"""

from __future__ import annotations

import asyncio
import base64
import io
import random
import sys
import time

import orjson
from aiohttp import web
from PIL import Image


def make_png(target_b64_bytes: int = 64 * 1024) -> bytes:
    """A noisy PNG whose base64 is about `target_b64_bytes` long (noise does not compress)."""
    rng = random.Random(7)
    if target_b64_bytes > 256 * 1024:  # big: size it at once (3 bytes a pixel, 4/3 for base64)
        side = int((target_b64_bytes * 3 / 4 / 3) ** 0.5)
        buffer = io.BytesIO()
        Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3)).save(buffer, "PNG", compress_level=1)
        return buffer.getvalue()
    side = 16
    while True:
        raw = bytes(rng.getrandbits(8) for _ in range(side * side * 3))
        buffer = io.BytesIO()
        Image.frombytes("RGB", (side, side), raw).save(buffer, "PNG")
        if len(buffer.getvalue()) * 4 // 3 >= target_b64_bytes:
            return buffer.getvalue()
        side += 8


def build_app(delay: float = 0.0, jitter: float = 0.0, answer_kb: int = 64) -> web.Application:
    b64 = base64.b64encode(make_png(answer_kb * 1024)).decode("ascii")
    body = orjson.dumps({"created": int(time.time()), "data": [{"b64_json": b64}]})

    async def generations(request: web.Request) -> web.Response:
        await request.read()
        if delay:
            await asyncio.sleep(delay + random.uniform(-jitter, jitter) if jitter else delay)
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/images/generations", generations)
    return app


if __name__ == "__main__":
    delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    jitter = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    answer_kb = int(sys.argv[4]) if len(sys.argv) > 4 else 64
    web.run_app(
        build_app(delay, jitter, answer_kb),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=None,
        print=None,
        backlog=16384,  # thousands of slow requests connect at once (the kernel caps it at somaxconn)
    )
