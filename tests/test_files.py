"""Signed image URLs: fetch without a key, and refuse tampering, expiry and path tricks."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import openai
import pytest

from imagehub.storage import FileStore, UrlSigner, load_or_create_secret
from tests.hub import Hub, cli, create_key


def _generate_url(sdk: openai.OpenAI, prompt: str = "a signed image") -> str:
    result = sdk.images.generate(prompt=prompt, size="256x256", response_format="url")
    assert result.data is not None and result.data[0].url
    return result.data[0].url


def _parts(url: str) -> tuple[str, str, str]:
    split = urlsplit(url)
    query = parse_qs(split.query)
    return split.path, query["expires"][0], query["signature"][0]


def test_url_serves_png_without_a_key(sdk: openai.OpenAI) -> None:
    response = httpx.get(_generate_url(sdk))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")
    assert "max-age=" in response.headers["cache-control"]


def test_url_expiry_is_an_hour_by_default(sdk: openai.OpenAI) -> None:
    _, expires, _ = _parts(_generate_url(sdk))
    assert abs(int(expires) - time.time() - 3600) < 60


def test_tampered_signature_is_403(hub: Hub, sdk: openai.OpenAI) -> None:
    path, expires, signature = _parts(_generate_url(sdk))
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    for query in (
        f"expires={expires}&signature={flipped}",
        f"expires={expires}",
        "",
        f"expires={int(expires) + 999}&signature={signature}",
        f"expires=abc&signature={signature}",
    ):
        response = httpx.get(f"{hub.url}{path}?{query}")
        assert response.status_code == 403, query
        assert response.json()["error"]["code"] == "invalid_signature"


def test_signature_for_one_file_does_not_open_another(hub: Hub, sdk: openai.OpenAI) -> None:
    path_a, expires_a, signature_a = _parts(_generate_url(sdk, "first"))
    path_b, _, _ = _parts(_generate_url(sdk, "second"))
    response = httpx.get(f"{hub.url}{path_b}?expires={expires_a}&signature={signature_a}")
    assert response.status_code == 403
    assert path_a != path_b


@pytest.mark.parametrize(
    "name",
    [
        "nothing.png",
        "..%2F..%2Fsecret.key",
        "%2e%2e%2fimagehub.db",
        "1795554522-hhp_R0EwK3g_roKXXhjkuA.exe",
        "1795554522-hhp_R0EwK3g_roKXXhjkuA.png.png",
    ],
)
def test_malformed_names_are_404(hub: Hub, name: str) -> None:
    response = httpx.get(f"{hub.url}/api/images/files/{name}?expires=1&signature=00")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_path_traversal_outside_files_is_404(hub: Hub) -> None:
    response = httpx.get(f"{hub.url}/api/images/files/../../secret.key")
    assert response.status_code == 404


def _signed(hub: Hub, name: str, expires: int) -> str:
    """A URL the hub itself would have signed (the test reads the hub's secret)."""
    signer = UrlSigner(load_or_create_secret(hub.data_dir / "secret.key"))
    return f"{hub.url}/api/images/files/{name}?{signer.query(name, expires)}"


def test_well_formed_unknown_name_with_valid_signature_is_404(hub: Hub, sdk: openai.OpenAI) -> None:
    path, expires, _ = _parts(_generate_url(sdk))
    stamp, segment, _offset, length_ext = path.rsplit("/", 1)[1].split("-")
    for name in (
        f"{stamp}-{'0' * 12}-0-{length_ext}",  # no such segment
        f"{stamp}-{segment}-ffffffff-{length_ext}",  # a range past the segment's end
        f"{stamp}-hhp_R0EwK3g_roKXXhjkuA.png",  # an earlier version's file name, no such file
    ):
        response = httpx.get(_signed(hub, name, int(expires)))
        assert response.status_code == 404, name
        assert response.json()["error"]["code"] == "image_not_found"


def test_images_stored_by_an_earlier_version_are_still_served(hub: Hub) -> None:
    """Before segments, each image was its own file in a two-character shard directory."""
    expires = int(time.time()) + 600
    name = f"{expires}-hhp_R0EwK3g_roKXXhjkuA.png"
    shard = hub.data_dir / "images" / "hh"
    shard.mkdir(exist_ok=True)
    (shard / name).write_bytes(b"\x89PNG legacy")
    response = httpx.get(_signed(hub, name, expires))
    assert response.status_code == 200
    assert response.content == b"\x89PNG legacy"
    assert response.headers["content-type"] == "image/png"


def test_a_big_image_streams_whole(hub: Hub) -> None:
    """Above 256 KB the hub streams the range from a worker thread instead of reading it inline."""
    expires = int(time.time()) + 600
    data = b"\x89PNG" + os.urandom(3 << 20)
    store = FileStore(hub.data_dir / "images")  # another process's segment: any hub serves it
    name = store.put(data, "png", expires).name
    store.close()
    response = httpx.get(_signed(hub, name, expires))
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(data))
    assert response.content == data


def _stored(hub: Hub, data: bytes) -> str:
    """A signed URL for `data`, stored in the hub's image store by this (other) process."""
    expires = int(time.time()) + 600
    store = FileStore(hub.data_dir / "images")
    name = store.put(data, "png", expires).name
    store.close()
    return _signed(hub, name, expires)


@pytest.mark.parametrize("size", [1000, 600_000], ids=["inline", "streamed"])
def test_a_byte_range_resumes_a_download(hub: Hub, size: int) -> None:
    data = os.urandom(size)
    url = _stored(hub, data)
    whole = httpx.get(url)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    etag = whole.headers["etag"]
    for header, start, end in (
        ("bytes=0-99", 0, 99),
        (f"bytes={size - 10}-", size - 10, size - 1),
        ("bytes=-25", size - 25, size - 1),
        (f"bytes=100-{size * 2}", 100, size - 1),
    ):
        part = httpx.get(url, headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == data[start : end + 1], header
        assert part.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert part.headers["content-length"] == str(end - start + 1)
    resumed = httpx.get(url, headers={"Range": "bytes=500-", "If-Range": etag})
    assert resumed.status_code == 206 and resumed.content == data[500:]


def test_ranges_that_cannot_be_served_as_asked(hub: Hub) -> None:
    data = os.urandom(1000)
    url = _stored(hub, data)
    beyond = httpx.get(url, headers={"Range": "bytes=1000-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == "bytes */1000"
    assert beyond.json()["error"]["code"] == "range_not_satisfiable"
    for ignored in ({"Range": "bytes=0-1,5-9"}, {"Range": "pages=1-2"}, {"Range": "bytes=9-3"}):
        response = httpx.get(url, headers=ignored)
        assert response.status_code == 200 and response.content == data, ignored
    stale = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": '"another-version"'})
    assert stale.status_code == 200 and stale.content == data


def test_many_images_share_segments_and_each_url_serves_its_own_bytes(hub: Hub, sdk: openai.OpenAI) -> None:
    urls = [_generate_url(sdk, f"image {index}") for index in range(6)]
    bodies = [httpx.get(url).content for url in urls]
    assert all(body.startswith(b"\x89PNG") for body in bodies)
    assert len(set(bodies)) == 6, "every URL serves a different image"
    segments = {urlsplit(url).path.rsplit("/", 1)[1].split("-")[1] for url in urls}
    assert len(segments) <= 2, "images are packed, not one file each (a bucket may turn over once)"
    for segment in segments:
        assert len(list((hub.data_dir / "images").glob(f"*-{segment}.seg"))) == 1


@pytest.fixture(scope="module")
def short_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, str]]:
    """A hub whose URLs live two seconds and whose sweeper runs every half second."""
    data_dir = tmp_path_factory.mktemp("short") / "data"
    hub = Hub(
        data_dir,
        env={
            "IMAGEHUB_URL_TTL_SECONDS": "2",
            "IMAGEHUB_SWEEP_INTERVAL_SECONDS": "0.5",
            "IMAGEHUB_PUBLIC_URL": "https://images.example.test/",
        },
    ).start()
    yield hub, create_key(data_dir, "short", sandbox=True)
    hub.stop()


def _files(data_dir: Path) -> list[Path]:
    return [path for path in (data_dir / "images").rglob("*") if path.is_file()]


def test_public_url_setting_builds_the_links(short_hub: tuple[Hub, str]) -> None:
    hub, key = short_hub
    client = openai.OpenAI(base_url=f"{hub.url}/api", api_key=key, max_retries=0)
    result = client.images.generate(prompt="public", size="256x256")
    assert result.data is not None and (result.data[0].url or "").startswith(
        "https://images.example.test/api/images/files/"
    )


def test_expired_url_is_410_and_the_sweeper_deletes_the_file(short_hub: tuple[Hub, str]) -> None:
    hub, key = short_hub
    client = openai.OpenAI(base_url=f"{hub.url}/api", api_key=key, max_retries=0)
    result = client.images.generate(prompt="fleeting", size="256x256", n=2)
    assert result.data is not None
    path, expires, signature = _parts(result.data[0].url or "")
    local = f"{hub.url}{path}?expires={expires}&signature={signature}"
    assert httpx.get(local).status_code == 200
    assert len(_files(hub.data_dir)) >= 1
    time.sleep(3.2)
    response = httpx.get(local)
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "url_expired"
    assert _files(hub.data_dir) == [], "the background sweeper removed expired files"


def test_gc_command_removes_expired_files(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    hub = Hub(
        data_dir, env={"IMAGEHUB_URL_TTL_SECONDS": "5", "IMAGEHUB_SWEEP_INTERVAL_SECONDS": "3600"}
    ).start()
    try:
        key = create_key(data_dir, "gc", sandbox=True)
        client = openai.OpenAI(base_url=f"{hub.url}/api", api_key=key, max_retries=0)
        client.images.generate(prompt="to be collected", size="256x256", n=3)
        assert 1 <= len(_files(data_dir)) <= 2, "three images, packed into a segment"
        assert "Removed 0" in cli(data_dir, "gc").stdout, "nothing is removed before expiry"
        time.sleep(6.5)  # a 5 s lifetime puts segments on 1 s boundaries
        assert f"Removed {len(_files(data_dir))} " in cli(data_dir, "gc").stdout
        assert _files(data_dir) == []
    finally:
        hub.stop()
