"""The S3 image store against a real S3-compatible server (moto's server mode) on loopback.

Stored, served through the hub with ranges, presigned URLs fetched with plain HTTP, expiry and
the sweeper, and a store that is down, failing halfway or stalled: 503 and no charge.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import openai
import pytest

from imagehub.storage import UrlSigner
from imagehub.storage.s3 import S3ImageStore
from tests.billing_hub import billing_hub
from tests.hub import Hub, create_key
from tests.s3_server import FaultyS3, S3Server

SECRET = secrets.token_hex(32)
USD = 1_000_000


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server().start(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


def _bucket(s3: S3Server) -> str:
    name = f"images-{secrets.token_hex(4)}"
    s3.create_bucket(name)
    return name


@pytest.fixture(scope="module")
def s3_hub(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, str, str]]:
    bucket = _bucket(s3)
    env = {**s3.hub_env(bucket), "IMAGEHUB_SIGNING_SECRET": SECRET}
    data_dir = tmp_path_factory.mktemp("s3hub") / "data"
    hub = Hub(data_dir, env=env).start()
    yield hub, create_key(data_dir, "s3", sandbox=True, env=env), bucket
    hub.stop()


def _sdk(hub: Hub, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{hub.url}/api", api_key=key, max_retries=0, timeout=60)


def _name(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1]


def test_images_go_to_the_bucket_and_are_served_with_ranges(
    s3: S3Server, s3_hub: tuple[Hub, str, str]
) -> None:
    hub, key, bucket = s3_hub
    result = _sdk(hub, key).images.generate(prompt="to the bucket", size="256x256", n=2)
    assert result.data is not None
    urls = [item.url or "" for item in result.data]
    assert {f"images/{_name(url)}" for url in urls} <= set(s3.keys(bucket))
    assert not list((hub.data_dir / "images").glob("*.seg")), "nothing on the hub's own disk"
    whole = httpx.get(urls[0])
    assert whole.status_code == 200 and whole.headers["content-type"] == "image/png"
    assert whole.content.startswith(b"\x89PNG")
    size = len(whole.content)
    for header, start, end in (
        ("bytes=0-9", 0, 9),
        ("bytes=-25", size - 25, size - 1),
        ("bytes=100-", 100, size - 1),
    ):
        part = httpx.get(urls[0], headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == whole.content[start : end + 1]
        assert part.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert httpx.get(urls[0], headers={"Range": f"bytes={size}-"}).status_code == 416
    assert httpx.get(f"{hub.url}/readyz").json()["checks"]["store"] == "ok"


def _signed(hub: Hub, name: str, expires: int) -> str:
    return f"{hub.url}/api/images/files/{name}?{UrlSigner(bytes.fromhex(SECRET)).query(name, expires)}"


def _direct_store(s3: S3Server, bucket: str, **options: object) -> S3ImageStore:
    os.environ.update(s3.client_env())  # what the hub reads too: the standard AWS variables
    return S3ImageStore(bucket, "images", endpoint_url=s3.url, **options)  # type: ignore[arg-type]


def test_a_big_image_streams_from_the_bucket_and_resumes(s3: S3Server, s3_hub: tuple[Hub, str, str]) -> None:
    """Above 256 KB the hub streams the object's body as it arrives instead of reading it whole."""
    hub, _, bucket = s3_hub
    data = b"\x89PNG" + os.urandom(3 << 20)
    expires = int(time.time()) + 600

    async def put() -> str:
        store = _direct_store(s3, bucket)
        return (await store.put(data, "png", expires)).name

    url = _signed(hub, asyncio.run(put()), expires)
    whole = httpx.get(url)
    assert whole.status_code == 200 and whole.headers["content-length"] == str(len(data))
    assert whole.content == data
    part = httpx.get(url, headers={"Range": "bytes=1000000-"})
    assert part.status_code == 206 and part.content == data[1_000_000:]


def test_a_signed_name_that_is_not_in_the_bucket_is_404(s3_hub: tuple[Hub, str, str]) -> None:
    hub, _, _ = s3_hub
    expires = int(time.time()) + 600
    response = httpx.get(_signed(hub, f"{expires}-{'A' * 22}-10.png", expires))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "image_not_found"


def test_presigned_urls_are_fetched_from_the_bucket_with_plain_http(s3: S3Server, tmp_path: Path) -> None:
    bucket = _bucket(s3)
    env = {**s3.hub_env(bucket), "IMAGEHUB_IMAGE_URLS": "presigned", "IMAGEHUB_URL_TTL_SECONDS": "600"}
    hub = Hub(tmp_path / "data", env=env).start()
    try:
        key = create_key(tmp_path / "data", "presigned", sandbox=True, env=env)
        result = _sdk(hub, key).images.generate(prompt="straight from the bucket", size="256x256")
        assert result.data is not None
        url = result.data[0].url or ""
        assert url.startswith(f"{s3.url}/{bucket}/images/"), "the bucket's URL, not the hub's"
        query = parse_qs(urlsplit(url).query)
        assert query["X-Amz-Expires"] == ["600"] and "X-Amz-Signature" in query
        image = httpx.get(url)
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    finally:
        hub.stop()


def test_expired_urls_are_410_and_the_sweeper_deletes_the_objects(s3: S3Server, tmp_path: Path) -> None:
    bucket = _bucket(s3)
    env = {**s3.hub_env(bucket), "IMAGEHUB_URL_TTL_SECONDS": "2", "IMAGEHUB_SWEEP_INTERVAL_SECONDS": "0.5"}
    hub = Hub(tmp_path / "data", env=env).start()
    try:
        key = create_key(tmp_path / "data", "short", sandbox=True, env=env)
        result = _sdk(hub, key).images.generate(prompt="fleeting", size="256x256", n=3)
        assert result.data is not None
        url = result.data[0].url or ""
        assert httpx.get(url).status_code == 200
        assert len(s3.keys(bucket)) == 3
        deadline = time.monotonic() + 20
        while s3.keys(bucket) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert s3.keys(bucket) == [], "the sweeper deleted the expired objects"
        gone = httpx.get(url)
        assert gone.status_code == 410 and gone.json()["error"]["code"] == "url_expired"
    finally:
        hub.stop()


def test_the_sweeper_leaves_live_and_foreign_objects_alone(s3: S3Server) -> None:
    bucket = _bucket(s3)

    async def scenario() -> int:
        store = _direct_store(s3, bucket, sweep_grace_seconds=0)
        now = int(time.time())
        await store.put(b"old", "png", now - 10)
        live = await store.put(b"live", "png", now + 600)
        import obstore

        await obstore.put_async(store._store, "images/README.txt", b"not an image")
        removed = await store.sweep()
        assert sorted(s3.keys(bucket)) == sorted([f"images/{live.name}", "images/README.txt"])
        return removed

    assert asyncio.run(scenario()) == 1


@pytest.fixture
def faulty(s3: S3Server) -> Iterator[FaultyS3]:
    proxy = FaultyS3(s3).start()
    yield proxy
    proxy.stop()


def test_store_down_is_503_not_charged_and_b64_json_still_works(
    s3: S3Server, faulty: FaultyS3, tmp_path: Path
) -> None:
    bucket = _bucket(s3)
    with billing_hub(tmp_path, "sqlite", extra_env=faulty.hub_env(bucket)) as billing:
        key_id, secret = billing.new_key(balance_micros=1 * USD)
        sdk = billing.sdk(secret)
        faulty.puts_allowed = 0
        with pytest.raises(openai.APIStatusError) as refused:
            sdk.images.generate(
                model="dall-e-2", prompt="nowhere to put it", size="256x256", response_format="url"
            )
        assert refused.value.status_code == 503
        error = refused.value.response.json()["error"]
        assert error["code"] == "image_store_unavailable" and error["type"] == "server_error"
        assert set(error) == {"message", "type", "param", "code"}
        assert billing.key(key_id)["balance_micros"] == 1 * USD, "nothing charged"
        [record] = billing.records(key_id, expected=1)
        assert record["status_code"] == 503 and record["price_micros"] == 0
        ok = sdk.images.generate(
            model="dall-e-2", prompt="inline", size="256x256", response_format="b64_json"
        )
        assert ok.data is not None and ok.data[0].b64_json
        assert billing.key(key_id)["balance_micros"] < 1 * USD, "b64_json is served and charged"
        faulty.puts_allowed = None
        assert s3.keys(bucket) == []


def test_a_request_the_store_fails_halfway_leaves_nothing(
    s3: S3Server, faulty: FaultyS3, tmp_path: Path
) -> None:
    bucket = _bucket(s3)
    env = faulty.hub_env(bucket)
    hub = Hub(tmp_path / "data", env=env).start()
    try:
        key = create_key(tmp_path / "data", "halfway", sandbox=True, env=env)
        faulty.puts_allowed = 1  # the first image is stored, the second is refused
        with pytest.raises(openai.APIStatusError) as refused:
            _sdk(hub, key).images.generate(prompt="two of them", size="256x256", n=2)
        assert refused.value.status_code == 503
        deadline = time.monotonic() + 10
        while s3.keys(bucket) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert s3.keys(bucket) == [], "the image that was stored is deleted again"
    finally:
        hub.stop()


def test_a_stalled_store_is_503_and_readyz_says_so(s3: S3Server, faulty: FaultyS3, tmp_path: Path) -> None:
    bucket = _bucket(s3)
    env = {**faulty.hub_env(bucket), "IMAGEHUB_STORE_TIMEOUT_SECONDS": "1"}
    hub = Hub(tmp_path / "data", env=env).start()
    try:
        key = create_key(tmp_path / "data", "stalled", sandbox=True, env=env)
        faulty.stall = True
        with pytest.raises(openai.APIStatusError) as refused:
            _sdk(hub, key).images.generate(prompt="waiting", size="256x256")
        assert refused.value.status_code == 503
        assert refused.value.response.json()["error"]["code"] == "image_store_unavailable"
        ready = httpx.get(f"{hub.url}/readyz", timeout=30)
        assert ready.status_code == 200, "a shared store does not take every hub out of rotation"
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["store"].startswith("error")
    finally:
        faulty.stall = False
        hub.stop()


def test_a_client_that_hangs_up_mid_upload_leaves_nothing(
    s3: S3Server, faulty: FaultyS3, tmp_path: Path
) -> None:
    """The upload is let finish (nothing else knows its name), then deleted: no orphan object."""
    bucket = _bucket(s3)
    env = faulty.hub_env(bucket)
    hub = Hub(tmp_path / "data", env=env).start()
    try:
        key = create_key(tmp_path / "data", "hangup", sandbox=True, env=env)
        faulty.put_delay = 2.0
        with pytest.raises(httpx.TimeoutException):
            httpx.post(
                f"{hub.url}/api/images/generations",
                json={"prompt": "gone before it is stored", "size": "256x256"},
                headers={"Authorization": f"Bearer {key}"},
                timeout=0.8,  # hangs up while the hub is uploading
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(entry[0] in {"DELETE", "POST"} for entry in faulty.log):
            time.sleep(0.1)
        puts = [path for method, path, status in faulty.log if method == "PUT" and status == 200]
        assert len(puts) == 1, faulty.log
        deletes = [entry for entry in faulty.log if entry[0] in {"DELETE", "POST"}]
        assert deletes and deletes[0][2] in {200, 204}, faulty.log
        assert s3.keys(bucket) == [], "the finished upload was deleted again"
    finally:
        faulty.put_delay = 0.0
        hub.stop()


def test_a_cdn_base_url_names_the_object_under_it(s3: S3Server, tmp_path: Path) -> None:
    bucket = _bucket(s3)
    s3.make_public(bucket)  # anyone may GET its objects, as through a CDN in front of it
    base = f"{s3.url}/{bucket}"
    env = {**s3.hub_env(bucket), "IMAGEHUB_IMAGE_BASE_URL": f"{base}/"}
    hub = Hub(tmp_path / "data", env=env).start()
    try:
        key = create_key(tmp_path / "data", "cdn", sandbox=True, env=env)
        result = _sdk(hub, key).images.generate(prompt="via the CDN", size="256x256")
        assert result.data is not None
        url = result.data[0].url or ""
        assert url.startswith(f"{base}/images/") and "?" not in url
        image = httpx.get(url)
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    finally:
        hub.stop()


def test_with_sqlite_the_sweep_lock_is_a_file_lock(tmp_path: Path) -> None:
    from imagehub.storage.sweeping import FileSweepLock

    async def scenario() -> tuple[bool, bool, bool]:
        first, second = FileSweepLock(tmp_path / "sweep.lock"), FileSweepLock(tmp_path / "sweep.lock")
        async with first.hold() as held, second.hold() as also:
            pass
        async with second.hold() as after:
            pass
        return held, also, after

    assert asyncio.run(scenario()) == (True, False, True)
