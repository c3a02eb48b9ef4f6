"""The local-disk image store: images packed into segments, names that carry where they are.

An image's name is `<bucket>-<segment>-<offset>-<length>.<ext>` (offset and length in hex):
everything needed to find its bytes, and, signed with its expiry into its URL, nothing a client
can change. Segments are named `<bucket>-<segment>.seg`, the bucket being the time by which all
their images have expired, so the sweeper finds what to delete from names alone, and storing an
image costs no database row and no new file (see segments.py). Stores written by earlier
versions, one file per image in two-character shard directories, are still served and swept.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from imagehub.storage.base import CONTENT_TYPES, EXTENSIONS, StoredImage
from imagehub.storage.segments import SUFFIX, SegmentWriter, Slot, free_range, segment_file_name

__all__ = ["CONTENT_TYPES", "FileStore", "LocatedImage", "OpenImage", "StoredImage"]
_NAME = re.compile(
    r"^(?P<bucket>\d{10,12})-(?P<segment>[0-9a-f]{12})-(?P<offset>[0-9a-f]{1,12})-(?P<length>[0-9a-f]{1,10})"
    rf"\.(?P<ext>{EXTENSIONS})$"
)
_SEGMENT_FILE = re.compile(r"^(?P<bucket>\d{10,12})-[0-9a-f]{12}" + re.escape(SUFFIX) + "$")
_LEGACY_NAME = re.compile(r"^(?P<expires>\d{10,12})-(?P<token>[A-Za-z0-9_-]{22})\.(?P<ext>png|jpeg|webp)$")


@dataclass(frozen=True, slots=True)
class LocatedImage:
    """Where a stored image's bytes are: a byte range of a file."""

    path: Path
    offset: int
    length: int
    content_type: str

    def open(self) -> OpenImage:
        """Open the file now: once open, a concurrent sweep can no longer cut the bytes short."""
        return OpenImage(open(self.path, "rb", buffering=0), self.offset, self.length)

    def read(self) -> bytes:
        with self.open() as image:
            return image.read(0, self.length)

    def chunks(self, size: int) -> Iterator[bytes]:
        return self.open().chunks(size, 0, self.length)


class PartialImage:
    """An image being written into its reserved range: named only once every byte is there."""

    def __init__(self, writer: SegmentWriter, slot: Slot, ext: str, expires: int) -> None:
        self._writer, self._slot, self._ext, self._expires = writer, slot, ext, expires
        self._written = 0

    def write(self, chunk: bytes) -> None:
        if self._written + len(chunk) > self._slot.length:
            raise ValueError("the image is longer than announced")
        self._writer.write_part(self._slot, chunk, self._written)
        self._written += len(chunk)

    def commit(self) -> StoredImage:
        slot = self._slot
        if self._written != slot.length:
            self.abort()
            raise ValueError("the image is shorter than announced")
        self._writer.finish(slot)
        return StoredImage(
            f"{slot.bucket}-{slot.segment_id}-{slot.offset:x}-{slot.length:x}.{self._ext}", self._expires
        )

    def abort(self) -> None:
        """Give the range back (punched out of its segment); nothing ever named it."""
        slot = self._slot
        self._writer.finish(slot)
        free_range(
            self._writer.root / segment_file_name(slot.bucket, slot.segment_id), slot.offset, slot.length
        )


class OpenImage:
    """A stored image's bytes, read from a file opened before the answer starts."""

    def __init__(self, handle: BinaryIO, offset: int, length: int) -> None:
        self._handle = handle
        self._offset = offset
        self.length = length

    def read(self, start: int, size: int) -> bytes:
        return b"".join(self._pieces(start, size, size))

    def chunks(self, chunk_size: int, start: int, size: int) -> Iterator[bytes]:
        """`size` bytes from `start`, `chunk_size` at a time; closes the file when done or dropped."""
        try:
            yield from self._pieces(start, size, chunk_size)
        finally:
            self.close()

    def _pieces(self, start: int, size: int, chunk_size: int) -> Iterator[bytes]:
        position, end = self._offset + start, self._offset + start + size
        while position < end:
            chunk = os.pread(self._handle.fileno(), min(chunk_size, end - position), position)
            if not chunk:
                raise FileNotFoundError(f"{self._handle.name} ends before the image does")
            position += len(chunk)
            yield chunk

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> OpenImage:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class FileStore:
    def __init__(self, root: Path, bucket_seconds: int = 60) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._writer = SegmentWriter(root, bucket_seconds)

    def put(self, data: bytes, ext: str, expires: int) -> StoredImage:
        """Append the image to this process's segment; its name is returned once it is written.

        Nothing names the bytes before `put` returns, so no reader can see half an image, and a
        crash mid-write leaves only an unnamed range that goes with its segment.
        """
        slot = self._writer.reserve(len(data), expires)
        self._writer.write(slot, data)
        return StoredImage(f"{slot.bucket}-{slot.segment_id}-{slot.offset:x}-{slot.length:x}.{ext}", expires)

    def put_chunks(self, chunks: Iterator[bytes], length: int, ext: str, expires: int) -> StoredImage:
        """`put` for bytes that come a chunk at a time; the range is freed if they fall short or run over."""
        part = self.begin(length, ext, expires)
        try:
            for chunk in chunks:
                part.write(chunk)
        except BaseException:
            part.abort()
            raise
        return part.commit()

    def begin(self, length: int, ext: str, expires: int) -> PartialImage:
        """Reserve `length` bytes for an image written a chunk at a time (by the caller, at its pace)."""
        return PartialImage(self._writer, self._writer.reserve(length, expires), ext, expires)

    def delete(self, name: str) -> None:
        """Forget an image that was stored for a request that then failed (its URL never left)."""
        match = _NAME.match(name)
        if match is not None:
            free_range(self._segment_path(match), int(match["offset"], 16), int(match["length"], 16))
            return
        with contextlib.suppress(FileNotFoundError):
            self._legacy_path(name).unlink()

    def locate(self, name: str) -> LocatedImage | None:
        """The byte range for a well-formed name whose bytes exist; None otherwise."""
        length: int | None
        if (match := _NAME.match(name)) is not None:
            path = self._segment_path(match)
            offset, length = int(match["offset"], 16), int(match["length"], 16)
        elif (match := _LEGACY_NAME.match(name)) is not None:
            path, offset, length = self._legacy_path(name), 0, None  # the whole file
        else:
            return None
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        length = size if length is None else length
        if size < offset + length:
            return None
        return LocatedImage(path, offset, length, CONTENT_TYPES[match["ext"]])

    @staticmethod
    def is_valid_name(name: str) -> bool:
        return _NAME.match(name) is not None or _LEGACY_NAME.match(name) is not None

    def writable(self) -> bool:
        return self.root.is_dir() and os.access(self.root, os.W_OK)

    def close(self) -> None:
        """Close this process's open segment (at shutdown)."""
        self._writer.close()

    def sweep(self, now: float | None = None) -> int:
        """Delete segments whose images have all expired, and expired legacy files; return the count."""
        now = time.time() if now is None else now
        removed = 0
        for entry in os.scandir(self.root):
            if entry.is_dir():
                removed += _sweep_legacy_shard(entry.path, now)
                continue
            match = _SEGMENT_FILE.match(entry.name)
            if match and int(match["bucket"]) <= now:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
        return removed

    def _segment_path(self, match: re.Match[str]) -> Path:
        return self.root / segment_file_name(int(match["bucket"]), match["segment"])

    def _legacy_path(self, name: str) -> Path:
        token = name.split("-", 1)[1]
        return self.root / token[:2] / name


def _sweep_legacy_shard(shard: str, now: float) -> int:
    """One-file-per-image shards from earlier versions: expired images and stale temp files."""
    removed = 0
    for entry in os.scandir(shard):
        match = _LEGACY_NAME.match(entry.name)
        stale_tmp = entry.name.startswith(".tmp-") and entry.stat().st_mtime < now - 3600
        if (match and int(match["expires"]) <= now) or stale_tmp:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed += 1
    return removed
