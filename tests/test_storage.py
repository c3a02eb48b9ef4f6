"""The segment store on its own: packing, naming, concurrent writers, freeing, sweeping.

The HTTP side (signed URLs, expiry, the sweeper in a running hub) is in test_files.py.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from imagehub.storage import FileStore
from imagehub.storage import segments as segments_module
from imagehub.storage.segments import bucket_seconds_for

NOW = int(time.time())


def _segments(root: Path) -> list[Path]:
    return sorted(root.glob("*.seg"))


def test_an_image_reads_back_from_its_name(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    stored = store.put(b"\x89PNG one", "png", NOW + 3600)
    found = store.locate(stored.name)
    assert found is not None
    assert found.read() == b"\x89PNG one"
    assert found.content_type == "image/png"
    assert store.is_valid_name(stored.name)


def test_images_expiring_together_share_one_segment(tmp_path: Path) -> None:
    store = FileStore(tmp_path, bucket_seconds=60)
    expires = NOW + 3600
    names = [store.put(f"image {index}".encode() * 100, "webp", expires).name for index in range(20)]
    assert len(set(names)) == 20
    assert len(_segments(tmp_path)) == 1
    for index, name in enumerate(names):
        found = store.locate(name)
        assert found is not None and found.read() == f"image {index}".encode() * 100


def test_a_segment_spans_one_bucket_and_names_when_it_may_go(tmp_path: Path) -> None:
    store = FileStore(tmp_path, bucket_seconds=60)
    first = store.put(b"a", "png", 1_800_000_001)
    second = store.put(b"b", "png", 1_800_000_060)
    third = store.put(b"c", "png", 1_800_000_061)
    buckets = [int(item.name.split("-")[0]) for item in (first, second, third)]
    assert buckets == [1_800_000_060, 1_800_000_060, 1_800_000_120]
    assert len(_segments(tmp_path)) == 2


def test_bucket_width_follows_the_url_lifetime() -> None:
    assert bucket_seconds_for(3600) == 60
    assert bucket_seconds_for(86_400) == 60
    assert bucket_seconds_for(600) == 10
    assert bucket_seconds_for(2) == 1


def test_a_full_segment_is_followed_by_a_new_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segments_module, "SEGMENT_BYTES", 1000)
    store = FileStore(tmp_path)
    names = [store.put(bytes([index]) * 400, "png", NOW + 3600).name for index in range(5)]
    assert len(_segments(tmp_path)) == 3  # 400+400, 400+400, 400
    big = store.put(b"x" * 5000, "png", NOW + 3600)  # bigger than a segment: it gets one to itself
    assert len(_segments(tmp_path)) == 4
    for index, name in enumerate([*names, big.name]):
        found = store.locate(name)
        assert found is not None
        assert found.read() == (bytes([index]) * 400 if index < 5 else b"x" * 5000)


def test_a_failed_rotation_leaves_the_writer_usable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If a new segment cannot be opened, that put fails; the next ones still write (no closed fd)."""
    monkeypatch.setattr(segments_module, "SEGMENT_BYTES", 1000)
    store = FileStore(tmp_path)
    store.put(b"a" * 900, "png", NOW + 3600)
    real_open = os.open

    def refuse(path: str, *args: object, **kwargs: object) -> int:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(segments_module.os, "open", refuse)
    with pytest.raises(OSError):
        store.put(b"b" * 500, "png", NOW + 3600)  # needs a new segment
    small = store.put(b"c" * 50, "png", NOW + 3600)  # still fits the current one
    monkeypatch.setattr(segments_module.os, "open", real_open)
    later = store.put(b"d" * 500, "png", NOW + 3600)
    for name, data in ((small.name, b"c" * 50), (later.name, b"d" * 500)):
        found = store.locate(name)
        assert found is not None and found.read() == data


def test_an_opened_image_survives_a_sweep(tmp_path: Path) -> None:
    """The file server opens before it answers: a sweep after that cannot cut the body short."""
    store = FileStore(tmp_path, bucket_seconds=1)
    data = os.urandom(600_000)
    found = store.locate(store.put(data, "png", NOW).name)
    assert found is not None
    image = found.open()
    assert store.sweep(now=NOW + 1) == 1
    assert b"".join(image.chunks(256 * 1024, 0, len(data))) == data


def test_concurrent_writers_never_overlap(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    results: dict[str, bytes] = {}
    lock = threading.Lock()

    def write(worker: int) -> None:
        for index in range(50):
            data = os.urandom(1000 + worker * 37 + index)
            name = store.put(data, "png", NOW + 3600).name
            with lock:
                results[name] = data

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 400
    for name, data in results.items():
        found = store.locate(name)
        assert found is not None and found.read() == data


def test_big_images_stream_in_chunks(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    data = os.urandom(1_000_000)
    store.put(b"before", "png", NOW + 3600)
    found = store.locate(store.put(data, "png", NOW + 3600).name)
    assert found is not None
    chunks = list(found.chunks(256 * 1024))
    assert [len(chunk) for chunk in chunks] == [262144, 262144, 262144, 213568]
    assert b"".join(chunks) == data


def test_deleting_an_image_frees_its_bytes(tmp_path: Path) -> None:
    """A request that fails after storing gives the space back at once (its URL never left)."""
    store = FileStore(tmp_path)
    keep = store.put(b"k" * 8192, "png", NOW + 3600)
    gone = store.put(os.urandom(1 << 20), "png", NOW + 3600)
    (segment,) = _segments(tmp_path)
    before = segment.stat().st_blocks
    store.delete(gone.name)
    kept = store.locate(keep.name)
    assert kept is not None and kept.read() == b"k" * 8192
    freed = store.locate(gone.name)
    assert freed is not None
    if segment.stat().st_blocks < before:  # the filesystem punched the hole
        assert freed.read() == bytes(1 << 20)
    else:
        pytest.skip("this filesystem cannot punch holes; the bytes go with the segment")


def test_names_that_point_nowhere_are_not_found(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    name = store.put(b"short", "png", NOW + 3600).name
    bucket, segment, _, _ = name.split(".")[0].split("-")
    assert store.locate(f"{bucket}-{segment}-0-ff.png") is None, "range past the end"
    assert store.locate(f"{bucket}-{'0' * 12}-0-5.png") is None, "no such segment"
    assert store.locate(f"{int(bucket) + 60}-{segment}-0-5.png") is None, "another bucket"
    assert store.locate("../../secret.key") is None
    assert not store.is_valid_name(f"{bucket}-{segment}-0-5.exe")


def test_sweep_deletes_expired_segments_only(tmp_path: Path) -> None:
    store = FileStore(tmp_path, bucket_seconds=60)
    old = store.put(b"old", "png", 1_800_000_030)
    new = store.put(b"new", "png", 1_800_000_090)
    assert store.sweep(now=1_800_000_059) == 0
    assert store.sweep(now=1_800_000_060) == 1
    assert store.locate(old.name) is None
    assert store.locate(new.name) is not None
    assert store.sweep(now=1_800_000_120) == 1
    assert _segments(tmp_path) == []


def test_a_segment_swept_while_open_does_not_lose_later_images(tmp_path: Path) -> None:
    """The writer moves to a new segment for later expiries; the swept one is never written again."""
    store = FileStore(tmp_path, bucket_seconds=1)
    store.put(b"first", "png", NOW)
    assert store.sweep(now=NOW + 1) == 1
    later = store.put(b"later", "png", NOW + 10)
    found = store.locate(later.name)
    assert found is not None and found.read() == b"later"


def test_files_from_earlier_versions_are_served_and_swept(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    shard = tmp_path / "hh"
    shard.mkdir()
    now = int(time.time())  # not the module's NOW: on a busy machine the suite outlives 600 s
    live = f"{now + 600}-hhp_R0EwK3g_roKXXhjkuA.png"
    dead = f"{now - 1}-hhq_R0EwK3g_roKXXhjkuA.png"
    (shard / live).write_bytes(b"live")
    (shard / dead).write_bytes(b"dead")
    (shard / ".tmp-stale").write_bytes(b"")
    os.utime(shard / ".tmp-stale", (now - 7200, now - 7200))
    found = store.locate(live)
    assert found is not None and found.read() == b"live"
    assert store.sweep() == 2
    assert sorted(path.name for path in shard.iterdir()) == [live]
    store.delete(live)
    assert store.locate(live) is None


def test_close_then_put_opens_a_fresh_segment(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    first = store.put(b"one", "png", NOW + 3600)
    store.close()
    second = store.put(b"two", "png", NOW + 3600)
    assert first.name.split("-")[1] != second.name.split("-")[1]
    for name, data in ((first.name, b"one"), (second.name, b"two")):
        found = store.locate(name)
        assert found is not None and found.read() == data
