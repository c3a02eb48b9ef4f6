"""Append-only segment files: many images per file, so storing one creates no inode.

Creating a file is the most expensive thing the url path did: on the benchmark machine a
single `open(O_CREAT)` cost 150-780 µs of kernel CPU, more than the rest of the request,
and a store holding an hour of images at 1,000 images/s would hold 3.6 million files for the
sweeper to walk. Instead, each process appends to one open segment per span of expiry
times: an image costs one `pwrite`, and expiry deletes whole segments.

Offsets are reserved under a lock and written with `pwrite`, so writers on worker threads
never overlap; a segment is closed once it is retired and its last writer is done.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

SEGMENT_BYTES = 64 << 20  # a new segment starts past this size (one bigger image still fits alone)
SUFFIX = ".seg"


def bucket_seconds_for(ttl_seconds: int) -> int:
    """How much expiry time one segment spans: a sixtieth of the URL lifetime, 1 s to 1 min.

    Images outlive their URLs by at most this long (which no signed URL can reach), and a store
    holds about sixty segments per process, however busy.
    """
    return max(1, min(60, ttl_seconds // 60))


def segment_file_name(bucket: int, segment_id: str) -> str:
    return f"{bucket}-{segment_id}{SUFFIX}"


@dataclass(slots=True)
class Slot:
    """Where one image goes: its segment, and the byte range reserved for it there."""

    segment: _Segment
    offset: int
    length: int

    @property
    def segment_id(self) -> str:
        return self.segment.id

    @property
    def bucket(self) -> int:
        return self.segment.bucket


@dataclass(slots=True)
class _Segment:
    id: str
    bucket: int
    fd: int
    size: int = 0
    writers: int = 0
    retired: bool = False


class SegmentWriter:
    """One process's open segments. Thread-safe: `reserve` under a lock, `write` without one."""

    def __init__(self, root: Path, bucket_seconds: int = 60) -> None:
        self.root = root
        self.bucket_seconds = bucket_seconds
        self._lock = threading.Lock()
        self._current: _Segment | None = None

    def reserve(self, length: int, expires: int) -> Slot:
        # The end of the span the image expires in: its segment may be deleted from that time.
        bucket = -(-expires // self.bucket_seconds) * self.bucket_seconds
        with self._lock:
            segment = self._current
            if (
                segment is None
                or segment.bucket != bucket
                or (segment.size and segment.size + length > SEGMENT_BYTES)
            ):
                segment = self._rotate(bucket)
            slot = Slot(segment, segment.size, length)
            segment.size += length
            segment.writers += 1
        return slot

    def write(self, slot: Slot, data: bytes) -> None:
        """Write the reserved bytes; the slot is finished either way (a failed range is never named)."""
        try:
            view = memoryview(data)
            written = 0
            while written < len(view):
                written += os.pwrite(slot.segment.fd, view[written:], slot.offset + written)
        finally:
            with self._lock:
                slot.segment.writers -= 1
                self._close_if_done(slot.segment)

    def write_part(self, slot: Slot, data: bytes, at: int) -> None:
        """Write part of the reserved bytes, `at` bytes into the slot; `finish` the slot after the last."""
        view = memoryview(data)
        written = 0
        while written < len(view):
            written += os.pwrite(slot.segment.fd, view[written:], slot.offset + at + written)

    def finish(self, slot: Slot) -> None:
        """The slot is written (or abandoned): its segment may close once retired."""
        with self._lock:
            slot.segment.writers -= 1
            self._close_if_done(slot.segment)

    def close(self) -> None:
        with self._lock:
            if self._current is not None:
                self._current.retired = True
                self._close_if_done(self._current)
                self._current = None

    def _rotate(self, bucket: int) -> _Segment:
        # Open the new segment before retiring the old: if the open fails (EMFILE, ENOSPC), the
        # old one stays current and usable instead of a closed descriptor being handed out.
        segment_id = secrets.token_hex(6)
        path = self.root / segment_file_name(bucket, segment_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        if self._current is not None:
            self._current.retired = True
            self._close_if_done(self._current)
        self._current = _Segment(segment_id, bucket, fd)
        return self._current

    @staticmethod
    def _close_if_done(segment: _Segment) -> None:
        if segment.retired and segment.writers == 0 and segment.fd >= 0:
            os.close(segment.fd)
            segment.fd = -1


_FALLOC_FL_KEEP_SIZE = 0x01
_FALLOC_FL_PUNCH_HOLE = 0x02


def _load_fallocate() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    try:
        function = ctypes.CDLL(None, use_errno=True).fallocate  # the C library already loaded
    except (OSError, AttributeError):
        return None  # not Linux/glibc: freed ranges stay until their segment expires
    function.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
    function.restype = ctypes.c_int
    return function


_fallocate = _load_fallocate()


def free_range(path: Path, offset: int, length: int) -> bool:
    """Give a range's disk space back now (punch a hole); the file keeps its size and offsets.

    Used when a request fails after storing: its bytes were never named to anyone. Returns
    False where the platform or filesystem cannot punch holes; the space then returns with the
    segment at its expiry.
    """
    if _fallocate is None or length <= 0:
        return False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    try:
        return bool(_fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, offset, length) == 0)
    finally:
        os.close(fd)
