"""What the service and the file server need from an image store, whichever backend holds the bytes.

Two backends: the local segment store (one machine's disk, `local.py`) and an S3-compatible
bucket shared by every hub (`s3.py`). Every call that may touch the network is async. The
contract each backend keeps:

- `put` either returns a named image or leaves nothing behind, even when the caller is
  cancelled mid-way (it waits for its own write, then deletes it);
- a store that is down or slow raises `StoreUnavailable` (503) within its timeout, never hangs;
- names are unguessable, carry the image's length and format, and are only ever reused for the
  same bytes, so a signed name is all a server needs to answer a ranged GET without a lookup.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Protocol

from imagehub.errors import ServiceUnavailable

#: Every format the stores keep, by name extension. SVG is a document a browser can run scripts in:
#: whoever serves it must neutralise it (api/files.py's policy, an S3 object's Content-Disposition).
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "svg": "image/svg+xml"}
#: The extensions a stored name may end with, as a regular-expression alternation.
EXTENSIONS = "|".join(CONTENT_TYPES)
#: Types that are active content when opened as a page: never rendered inline from a store.
ACTIVE_TYPES = frozenset({"image/svg+xml"})


def object_headers(ext: str) -> dict[str, str]:
    """What a bucket keeps with an image and sends on presigned or CDN URLs, which skip the hub:
    an SVG is an attachment there, since no policy header of ours can go with it."""
    headers = {"Content-Type": CONTENT_TYPES[ext]}
    if headers["Content-Type"] in ACTIVE_TYPES:
        headers["Content-Disposition"] = "attachment"
    return headers


class StoreUnavailable(ServiceUnavailable):
    """The image store could not be reached in time: a `url` request fails and is not charged."""

    def __init__(self, message: str = "The image store is unavailable; try again shortly.") -> None:
        super().__init__(message, code="image_store_unavailable", headers={"Retry-After": "5"})


class ImageMissing(Exception):
    """A well-formed, signed name whose bytes are not (or no longer) in the store."""


@dataclass(frozen=True, slots=True)
class StoredImage:
    name: str  # file name and URL path segment
    expires: int
    #: Where clients fetch it without passing through a hub (presigned or CDN URL); None: the hub signs.
    url: str | None = None


class OpenedImage(Protocol):
    """One byte range of a stored image, opened (so the answer can start) but not yet read."""

    async def read(self) -> bytes:
        """The whole range, then closed."""
        ...

    def chunks(self, chunk_size: int) -> Iterator[bytes] | AsyncIterator[bytes]:
        """The range a chunk at a time; closes once done or dropped."""
        ...


class LocatedImage(Protocol):
    @property
    def length(self) -> int: ...

    @property
    def content_type(self) -> str: ...

    async def open(self, start: int, size: int) -> OpenedImage:
        """Raises ImageMissing if the bytes are gone, StoreUnavailable if the store is."""
        ...


class ImageStore(Protocol):
    #: True when other hub processes share this store, so only one of them may sweep at a time.
    shared: bool

    async def put(self, data: bytes, ext: str, expires: int) -> StoredImage: ...

    async def put_chunks(self, chunks: Iterator[bytes], length: int, ext: str, expires: int) -> StoredImage:
        """`put` for an image that arrives a chunk at a time (decoded from a spool): exactly
        `length` bytes, never all in memory at once. Iterating `chunks` may run on a worker thread."""
        ...

    async def delete(self, names: list[str]) -> None:
        """Forget images stored for a request that then failed (their URLs never left)."""
        ...

    def is_valid_name(self, name: str) -> bool: ...

    async def locate(self, name: str) -> LocatedImage | None:
        """Where a well-formed name's bytes are; None when the name cannot be in this store."""
        ...

    async def sweep(self, now: float | None = None) -> int:
        """Delete what has expired; return how many objects (segments, files) went."""
        ...

    async def check(self) -> str | None:
        """None when the store is reachable and writable, else what is wrong (for /readyz)."""
        ...

    async def close(self) -> None: ...
