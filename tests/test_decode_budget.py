"""A near-cap source image (7999x7999 RGBA: 244 KB on the wire, 256 MB decoded) against a real hub.

Refusals read only the header, so they cost the hub next to nothing; the sandbox, which draws
with the pixels, decodes inside the process's decode budget, so 16 such edits at once get a 503
with Retry-After past it instead of gigabytes. Memory is the hub process's own peak (VmHWM).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
from PIL import Image

from tests.hub import Hub, create_key
from tests.payloads import mask_png

SIDE = 7999
BUDGET_MB = 600
MB = 1024 * 1024


def near_cap_png(side: int = SIDE) -> bytes:
    """An RGBA PNG just under the hub's 64-megapixel cap, compressed row by row (never held whole)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = b"\x00" + bytes((30, 120, 200, 255)) * side
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def progressive_jpeg(side: int = SIDE) -> bytes:
    """A progressive JPEG: libjpeg keeps all its coefficients (2 bytes each) to decode it at any scale."""
    out = io.BytesIO()
    Image.new("L", (side, side), 90).save(out, "JPEG", progressive=True, quality=80)
    return out.getvalue()


def peak_rss(hub: Hub) -> int:
    """The hub process's high-water mark of resident memory, in bytes."""
    assert hub.process is not None
    for line in Path(f"/proc/{hub.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def budget_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    data_dir = tmp_path_factory.mktemp("decode") / "data"
    running = Hub(data_dir, env={"IMAGEHUB_DECODE_BUDGET_MB": str(BUDGET_MB)}).start()
    yield running
    running.stop()


def client(hub: Hub, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{hub.url}/api", api_key=key, max_retries=0, timeout=120)


def test_refusing_a_near_cap_image_costs_under_50_mb_then_16_at_once_stay_in_the_budget(
    budget_hub: Hub,
) -> None:
    big = near_cap_png()
    assert len(big) < 300_000
    sandbox = client(budget_hub, create_key(budget_hub.data_dir, "sandbox", sandbox=True))
    live = client(budget_hub, create_key(budget_hub.data_dir, "live"))
    # Warm up every code path once with small images, so imports and caches are not counted.
    sandbox.images.edit(model="gpt-image-1", image=("s.png", mask_png(64)), prompt="warm up")
    with pytest.raises(openai.BadRequestError):
        sandbox.images.edit(model="gpt-image-1", image=("s.png", mask_png(64)), mask=mask_png(32), prompt="x")
    before = peak_rss(budget_hub)

    # Refused: a mask of the wrong size (400) and a live key with no provider (403), four times each.
    jpeg = progressive_jpeg()
    for _ in range(4):
        with pytest.raises(openai.PermissionDeniedError):
            live.images.edit(model="gpt-image-1", image=("big.jpg", jpeg, "image/jpeg"), prompt="x")
        with pytest.raises(openai.BadRequestError) as bad:
            sandbox.images.edit(model="gpt-image-1", image=("big.png", big), mask=mask_png(64), prompt="x")
        assert bad.value.code == "invalid_mask"
        with pytest.raises(openai.PermissionDeniedError):
            live.images.edit(model="gpt-image-1", image=("big.png", big), prompt="x")
    refused = peak_rss(budget_hub) - before
    print(f"near-cap images refused 12 times: hub peak RSS +{refused / MB:.1f} MB")
    assert refused < 50 * MB

    # Served by the sandbox, 16 at once: within the decode budget or a 503 with Retry-After.
    def edit(_: int) -> int:
        try:
            sandbox.images.edit(
                model="gpt-image-1", image=("big.png", big), prompt="near cap", size="1024x1024"
            )
        except openai.APIStatusError as error:
            assert error.status_code == 503, error.message
            assert error.code == "decode_budget_exhausted"
            assert int(error.response.headers["retry-after"]) >= 1
            return 503
        return 200

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(edit, range(16)))
    grown = peak_rss(budget_hub) - before
    print(
        f"16 near-cap edits at once: {statuses.count(200)} served, {statuses.count(503)} 503; "
        f"hub peak RSS +{grown / MB:.0f} MB against a {BUDGET_MB} MB budget"
    )
    assert 200 in statuses
    assert grown < (BUDGET_MB + 64) * MB  # the budget, plus bodies and the small canvases drawn


def test_an_image_past_the_pixel_cap_is_refused_from_its_header(budget_hub: Hub) -> None:
    """Past the 64-megapixel cap (the default per-model cap): a 400 from the header, naming the field."""
    sandbox = client(budget_hub, create_key(budget_hub.data_dir, "cap", sandbox=True))
    with pytest.raises(openai.BadRequestError) as bad:
        sandbox.images.edit(model="gpt-image-1", image=("big.png", near_cap_png(8001)), prompt="x")
    assert bad.value.code == "image_too_large" and "64,000,000" in bad.value.message


def test_a_truncated_progressive_jpeg_is_refused_without_decoding(budget_hub: Hub) -> None:
    sandbox = client(budget_hub, create_key(budget_hub.data_dir, "jpeg", sandbox=True))
    whole = progressive_jpeg(1500)
    with pytest.raises(openai.BadRequestError) as bad:
        sandbox.images.edit(
            model="gpt-image-1", image=("cut.jpg", whole[: len(whole) // 2], "image/jpeg"), prompt="x"
        )
    assert bad.value.code == "invalid_image"
