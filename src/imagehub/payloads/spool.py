"""One image of an answer, held until it is sent or stored: in memory while the process's
memory tier has room, else in an anonymous temporary file.

A spool holds either the base64 text an upstream answered with (`raw=False`), or the image's
bytes as downloaded from a URL (`raw=True`); either way it hands out both base64 text (for a
`b64_json` answer) and image bytes (for the store), a chunk at a time.

Two limits apply. Every byte counts against the process's answer budget (`ANSWERS`), which
pauses the reader when spent (back-pressure). The first `IN_MEMORY` bytes of all spools together
(and at most PER_REQUEST_MEMORY_BYTES of one request's) stay in memory, as the chunks the socket
delivered (no copy); past that, a spool moves to a file
with no name (O_TMPFILE where the platform has it), which vanishes when closed, collected, or
when the process dies: a killed hub leaves no spool behind. So the hub's memory for answers is
bounded by the memory tier, and a burst of answers costs page cache, then disk, never an OOM.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from imagehub.payloads import codec
from imagehub.payloads.budget import ANSWERS, ByteBudget, MemoryTier, Share

CHUNK_BYTES = 256 << 10
_HEAD_BYTES = 128
#: How long a reader waits for room in the budget before its request fails with 503.
TAKE_TIMEOUT_SECONDS = 30.0
#: The answer bytes all spools of this process keep in memory before new ones go to files.
IN_MEMORY = MemoryTier()

_directory: str | None = None

Part = bytes | memoryview


def configure(directory: str | None) -> None:
    """Where spool files live (the data directory's disk); None: the system's temporary directory."""
    global _directory
    if directory is not None:
        os.makedirs(directory, exist_ok=True)
    _directory = directory
    _FILES.clear()  # files made elsewhere are not reused


@dataclass(eq=False)
class _Held:
    """What a spool holds, shared with its finalizer so collection gives it all back."""

    parts: list[Part] = field(default_factory=list)
    file: IO[bytes] | None = None
    in_memory: int = 0
    taken: int = 0


class _FilePool:
    """Unnamed temporary files, emptied and reused: creating one (an inode, then freeing it)
    cost ~9 % of the hub's CPU at 1,000 answers in flight; truncating one costs a fraction."""

    def __init__(self, keep: int = 64) -> None:
        self.keep = keep
        self._free: list[IO[bytes]] = []

    def take(self) -> IO[bytes]:
        if self._free:
            return self._free.pop()
        return tempfile.TemporaryFile(dir=_directory)  # closed, or pooled, by give()

    def give(self, handle: IO[bytes]) -> None:
        try:
            if len(self._free) < self.keep and not handle.closed:
                os.ftruncate(handle.fileno(), 0)  # its pages go back now, not when reused
                self._free.append(handle)
                return
        except OSError:
            pass
        handle.close()

    def clear(self) -> None:
        while self._free:
            self._free.pop().close()


_FILES = _FilePool()


def _release(held: _Held, budget: ByteBudget, memory: MemoryTier, share: Share) -> None:
    if held.file is not None:
        _FILES.give(held.file)
        held.file = None
    held.parts.clear()
    memory.give(held.in_memory, share)
    budget.give(held.taken, share)
    held.in_memory = held.taken = 0


class Spool:
    """Written once, in order, then read back any number of times in chunks."""

    def __init__(
        self,
        budget: ByteBudget = ANSWERS,
        *,
        raw: bool = False,
        share: Share | None = None,
        memory: MemoryTier = IN_MEMORY,
    ) -> None:
        """`share`: what the request this image belongs to holds (its spools never wait on each other)."""
        self.raw = raw
        self._share = share if share is not None else Share()
        self._budget = budget
        self._memory = memory
        self._held = _Held()
        self._finalizer = weakref.finalize(self, _release, self._held, budget, memory, self._share)
        self.size = 0
        self.head = b""
        self.tail = b""

    def __len__(self) -> int:
        """The length of the base64 text (what a `b64_json` answer carries)."""
        return -(-self.size // 3) * 4 if self.raw else self.size

    def __repr__(self) -> str:
        where = "memory" if self._held.file is None else "file"
        return f"Spool({self.size} bytes in {where})"

    @property
    def in_file(self) -> bool:
        return self._held.file is not None

    async def append(self, data: Part) -> None:
        """Add text; waits for room in the budget (back-pressure on whoever is reading)."""
        size = len(data)
        if not size:
            return
        await self._budget.take(size, TAKE_TIMEOUT_SECONDS, self._share)
        held = self._held
        held.taken += size
        if held.file is None and self._memory.try_take(size, self._share):
            held.in_memory += size
            held.parts.append(data)  # the reader's own chunk: kept, not copied
        else:
            if held.file is None:
                self._move_to_file()
            self._write(data)
        if len(self.head) < _HEAD_BYTES:
            self.head += bytes(data[: _HEAD_BYTES - len(self.head)])
        self.tail = (self.tail + bytes(data[-4:]))[-4:]
        self.size += size

    def _move_to_file(self) -> None:
        held = self._held
        held.file = _FILES.take()
        offset = 0
        for part in held.parts:
            _pwrite(held.file.fileno(), part, offset)
            offset += len(part)
        held.parts = []
        self._memory.give(held.in_memory, self._share)
        held.in_memory = 0

    def _write(self, data: Part) -> None:
        assert self._held.file is not None
        _pwrite(self._held.file.fileno(), data, self.size)

    def _stored_chunks(self, chunk_size: int) -> Iterator[bytes]:
        """What was appended, regrouped into chunks of about `chunk_size` bytes."""
        held = self._held
        if held.file is None:
            group: list[Part] = []
            grouped = 0
            for part in list(held.parts):
                group.append(part)
                grouped += len(part)
                if grouped >= chunk_size:
                    yield b"".join(group)
                    group, grouped = [], 0
            if group:
                yield b"".join(group)
            return
        fd = held.file.fileno()
        offset = 0
        while offset < self.size:
            chunk = os.pread(fd, min(chunk_size, self.size - offset), offset)
            if not chunk:
                raise OSError("spool file ended early")
            offset += len(chunk)
            yield chunk

    def text_chunks(self, chunk_size: int = CHUNK_BYTES) -> Iterator[bytes]:
        """The base64 text, about `chunk_size` bytes at a time."""
        if not self.raw:
            yield from self._stored_chunks(chunk_size)
            return
        carry = b""
        for chunk in self._stored_chunks(chunk_size // 4 * 3):
            data = carry + chunk if carry else chunk
            cut = len(data) - len(data) % 3  # whole 3-byte groups: no padding inside the text
            carry = data[cut:]
            if cut:
                yield codec.encode(memoryview(data)[:cut])
        if carry:
            yield codec.encode(carry)

    def text(self) -> str:
        """The whole text in memory: only where something needs it whole (a stored replay)."""
        return b"".join(self.text_chunks()).decode("ascii")

    def decoded_length(self) -> int:
        """The image's size, from the text's length and padding (no whitespace in a spool)."""
        if self.raw:
            return self.size
        quanta, rest = divmod(self.size, 4)
        if rest:
            return quanta * 3 + max(0, rest - 1)
        return quanta * 3 - self.tail.count(b"=")

    def decoded_chunks(self, chunk_size: int = CHUNK_BYTES) -> Iterator[bytes]:
        """The image bytes, decoded a chunk at a time; binascii.Error on text that is not base64."""
        if self.raw:
            yield from self._stored_chunks(chunk_size)
            return
        carry = b""
        for chunk in self._stored_chunks(chunk_size):
            data = carry + chunk if carry else chunk
            cut = len(data) - len(data) % 4
            carry = data[cut:]
            if cut:
                yield codec.decode(memoryview(data)[:cut])
        if carry:
            yield codec.decode(carry + b"=" * (-len(carry) % 4))

    def head_bytes(self) -> bytes:
        """The first decoded bytes: enough for an image header (format, dimensions)."""
        if self.raw:
            return self.head
        head = self.head[: len(self.head) - len(self.head) % 4]
        try:
            return codec.decode(head)
        except ValueError:  # binascii.Error
            return b""

    def decoded(self) -> bytes:
        """The whole image in memory: only where pixels are needed (resizing for a successor)."""
        return b"".join(self.decoded_chunks())

    def close(self) -> None:
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive


def _pwrite(fd: int, data: Part, offset: int) -> None:
    view = memoryview(data)
    written = 0
    while written < len(view):
        written += os.pwrite(fd, view[written:], offset + written)


def spool_text(value: object) -> str:
    """orjson's `default`: a spool renders as its text (for the few renderings that need it whole)."""
    if isinstance(value, Spool):
        return value.text()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def materialize(value: str | Spool) -> str:
    return value.text() if isinstance(value, Spool) else value


__all__ = ["IN_MEMORY", "Spool", "configure", "materialize", "spool_text"]
