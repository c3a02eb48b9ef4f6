"""How much memory the hub holds for a big answer: n=10 images of 1792x1024 as b64_json.

The fake upstream answers with ten noisy (incompressible) 1792x1024 PNGs, about 5.5 MB each in
base64, so the whole payload is ~73 MB. The hub's peak RSS above its idle RSS, divided by the
payload size, is how many copies of the payload it held at once, for `b64_json` (passed through)
and `url` (decoded into the store). The request asks gpt-image-2 (a live model: a retired name
would be resized by its successor, which decodes pixels) for n=10 at 1536x1024, and the fake
answers with 1792x1024 images: the bytes that cross the hub are the ones the target names.

Run: python bench/big_response.py
"""

from __future__ import annotations

import base64
import io
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from aiohttp import web
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import free_port, wait_http

N, WIDTH, HEIGHT = 10, 1792, 1024


def rss_kb(pid: int, field: str) -> int:
    match = re.search(rf"{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) if match else 0


def upstream_main(port: int) -> None:
    rng = random.Random(1)
    images = []
    for _ in range(N):
        buffer = io.BytesIO()
        Image.frombytes("RGB", (WIDTH, HEIGHT), rng.randbytes(WIDTH * HEIGHT * 3)).save(
            buffer, "PNG", compress_level=1
        )
        images.append({"b64_json": base64.b64encode(buffer.getvalue()).decode()})
    import orjson

    body = orjson.dumps({"created": 0, "data": images, "output_format": "png", "size": f"{WIDTH}x{HEIGHT}"})

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, content_type="application/json")

    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/v1/images/generations", answer)
    app.router.add_get("/", lambda _: web.Response(text=str(len(body))))
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="imagehub-big-"))
    up_port = free_port()
    (work / "hub.toml").write_text(
        f'[[deployments]]\nname = "big"\nprovider = "openai"\nbase_url = "http://127.0.0.1:{up_port}/v1"\n'
        'api_key = "sk-big"\nmodels = ["gpt-image-2"]\n'
    )
    env = {
        **os.environ,
        "IMAGEHUB_DATA_DIR": str(work / "data"),
        "IMAGEHUB_CONFIG_FILE": str(work / "hub.toml"),
        "IMAGEHUB_MAX_BODY_BYTES": str(1 << 20),
    }
    upstream = subprocess.Popen([sys.executable, __file__, "--upstream", str(up_port)])
    key = subprocess.run(
        [sys.executable, "-m", "imagehub", "keys", "create", "--name", "big"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        wait_http(f"http://127.0.0.1:{up_port}/", upstream, timeout=120)
        payload = int(httpx.get(f"http://127.0.0.1:{up_port}/", timeout=120).text)
        for fmt in ("b64_json", "url"):
            measure(env, key, payload, fmt)
    finally:
        upstream.terminate()


def measure(env: dict[str, str], key: str, payload: int, fmt: str) -> None:
    """A fresh hub, one warm-up request, then the big one: its peak RSS over the idle one."""
    hub_port = free_port()
    hub = subprocess.Popen(
        [sys.executable, "-m", "imagehub", "serve", "--port", str(hub_port), "--log-level", "warning"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{hub_port}/healthz", hub)
        request = {"model": "gpt-image-2", "prompt": "big", "n": N, "size": "1536x1024", "response_format": fmt}
        headers = {"Authorization": f"Bearer {key}"}
        url = f"http://127.0.0.1:{hub_port}/api/images/generations"
        # One small request first, so imports and pools are warm before we read the baseline.
        httpx.post(url, json={**request, "n": 1}, headers=headers, timeout=120)
        time.sleep(0.5)
        baseline = rss_kb(hub.pid, "VmRSS")
        before_peak = rss_kb(hub.pid, "VmHWM")
        started = time.monotonic()
        response = httpx.post(url, json=request, headers=headers, timeout=300)
        elapsed = time.monotonic() - started
        response.raise_for_status()
        peak = rss_kb(hub.pid, "VmHWM")
        received = len(response.content)
    finally:
        hub.terminate()
        hub.wait(30)
    growth = (max(peak, before_peak) - baseline) / 1024
    print(
        f"{fmt}: payload from upstream {payload / 1e6:.1f} MB; response to client {received / 1e6:.1f} MB "
        f"in {elapsed:.2f} s"
    )
    print(
        f"{fmt}: hub RSS idle {baseline / 1024:.0f} MB, peak {peak / 1024:.0f} MB, growth {growth:.0f} MB "
        f"= {growth * 1024 * 1024 / payload:.2f} x the payload"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--upstream":
        upstream_main(int(sys.argv[2]))
    else:
        main()
