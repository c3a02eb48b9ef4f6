"""An S3-compatible bucket as the image store, shared by every hub (AWS S3, MinIO, R2, GCS interop).

The client is obstore (Rust's `object_store` crate): on the hub's workload it spent a sixth to a
ninth of aiobotocore's CPU per PUT and GET (bench/RESULTS.md, "Which S3 client"), and CPU per
request is what sizes a hub. Credentials and region come from the standard AWS variables and chains
(environment, web identity, ECS and instance metadata), as every S3 tool reads them.

An object's key is `<prefix>/<expires>-<token>-<length>.<ext>`: the expiry first (ten digits),
so a listing comes back oldest first and the sweeper stops at the first live object; the length
in the name, so a ranged GET needs no HEAD first.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import obstore
from obstore.exceptions import BaseError, NotFoundError
from obstore.store import S3Store

from imagehub.concurrency.completion import run_to_completion
from imagehub.storage.base import (
    CONTENT_TYPES,
    EXTENSIONS,
    ImageMissing,
    StoredImage,
    StoreUnavailable,
    object_headers,
)

log = logging.getLogger("imagehub.storage")

T = TypeVar("T")
_NAME = re.compile(
    rf"^(?P<expires>\d{{10}})-[A-Za-z0-9_-]{{22}}-(?P<length>[0-9a-f]{{1,10}})\.(?P<ext>{EXTENSIONS})$"
)
_DELETE_BATCH = 1000
#: obstore raises Python's FileNotFoundError for a missing object (its NotFoundError elsewhere).
_MISSING = (FileNotFoundError, NotFoundError)
_MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4's limit
#: Images above this go up in parts (S3's minimum part is 5 MiB); smaller ones in one PUT.
MULTIPART_ABOVE = 8 << 20
#: Spooled images uploaded at once by one process (each holds its image, or two parts, in memory).
UPLOADS_AT_ONCE = 32
PART_BYTES = 5 << 20


class S3ImageStore:
    """Images as objects in one bucket under one prefix; any hub serves any of them."""

    shared = True

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        timeout_seconds: float = 10.0,
        image_urls: str = "hub",
        cdn_base_url: str | None = None,
        sweep_grace_seconds: float = 60.0,
    ) -> None:
        """`sweep_grace_seconds`: objects outlive their URLs by this long, so a hub whose clock runs
        a little behind the sweeper's never signs for, or serves, an object that is already gone."""
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.timeout = timeout_seconds
        self.sweep_grace = sweep_grace_seconds
        self.image_urls = image_urls
        self.cdn_base_url = cdn_base_url.rstrip("/") if cdn_base_url else None
        config: dict[str, Any] = {}
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            config["region"] = region
        if endpoint_url:
            config["endpoint"] = endpoint_url
        if "AWS_VIRTUAL_HOSTED_STYLE_REQUEST" not in os.environ:
            # AWS itself: bucket.s3.region.amazonaws.com; MinIO, R2, GCS interop, moto: path style.
            config["virtual_hosted_style_request"] = endpoint_url is None
        self._store = S3Store(
            bucket,
            config=config,  # type: ignore[arg-type]
            client_options={
                "allow_http": bool(endpoint_url and endpoint_url.startswith("http://")),
                "timeout": timedelta(seconds=timeout_seconds),
                "connect_timeout": timedelta(seconds=min(timeout_seconds, 5.0)),
            },
            retry_config={"max_retries": 2, "retry_timeout": timedelta(seconds=timeout_seconds)},
        )
        self._cleanup: set[asyncio.Task[None]] = set()
        # Spooled images wait their turn here rather than each hold an upload buffer: a thousand
        # 2.5 MB PUTs at once held 760 MB and made 4 req/s (bench/RESULTS.md, issue 24).
        self._uploads = asyncio.Semaphore(UPLOADS_AT_ONCE)

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    async def put(self, data: bytes, ext: str, expires: int) -> StoredImage:
        """Upload; a cancel waits for the upload to end and then deletes it (nobody has its name)."""
        name = f"{expires:010d}-{secrets.token_urlsafe(16)}-{len(data):x}.{ext}"
        uploading = obstore.put_async(
            self._store,
            self.key(name),
            data,
            attributes=object_headers(ext),
            use_multipart=False,
        )
        return await self._finish_upload(name, expires, uploading)

    async def _finish_upload(self, name: str, expires: int, uploading: Awaitable[Any]) -> StoredImage:
        """Wait for an upload; on cancel or failure the object (if it landed) is deleted."""
        done = await run_to_completion(self._bounded(uploading, "store"))
        if done.cancelled:
            if done.error is None:  # uploaded for a client that is gone: delete it before ending
                await run_to_completion(self.delete([name]))
            else:
                self._forget_later([name])
            raise asyncio.CancelledError
        if done.error is not None:
            # A timed-out PUT may still land: delete it, without making the client wait on a store
            # that is failing (the sweeper is the backstop).
            self._forget_later([name])
            raise done.error
        return StoredImage(name, expires, await self._direct_url(name, expires))

    async def put_chunks(self, chunks: Iterator[bytes], length: int, ext: str, expires: int) -> StoredImage:
        """Up to MULTIPART_ABOVE bytes: one PUT of the joined chunks (that much in memory, briefly).
        Above it: a multipart upload, `PART_BYTES` a part and two parts in flight, so a 20 MB
        image costs ~10 MB of buffers; a failed or cancelled upload is aborted by obstore."""
        async with self._uploads:
            if length <= MULTIPART_ABOVE:
                return await self.put(b"".join(chunks), ext, expires)
            return await self._put_parts(chunks, length, ext, expires)

    async def _put_parts(self, chunks: Iterator[bytes], length: int, ext: str, expires: int) -> StoredImage:
        name = f"{expires:010d}-{secrets.token_urlsafe(16)}-{length:x}.{ext}"
        uploading = obstore.put_async(
            self._store,
            self.key(name),
            chunks,
            attributes=object_headers(ext),
            use_multipart=True,
            chunk_size=PART_BYTES,
            max_concurrency=2,
        )
        return await self._finish_upload(name, expires, uploading)

    async def _direct_url(self, name: str, expires: int) -> str | None:
        if self.cdn_base_url is not None:
            return f"{self.cdn_base_url}/{self.key(name)}"
        if self.image_urls != "presigned":
            return None
        lifetime = min(max(1, expires - int(time.time())), _MAX_PRESIGN_SECONDS)
        return await obstore.sign_async(self._store, "GET", self.key(name), timedelta(seconds=lifetime))

    async def delete(self, names: list[str]) -> None:
        """Best effort: what cannot be deleted now is swept once it expires."""
        if not names:
            return
        keys = [self.key(name) for name in names]
        try:
            await self._bounded(obstore.delete_async(self._store, keys), "delete")
        except (StoreUnavailable, *_MISSING):
            log.warning("could not delete %d image(s) now; the sweeper will", len(names))

    def _forget_later(self, names: list[str]) -> None:
        task = asyncio.get_running_loop().create_task(self.delete(names))
        self._cleanup.add(task)
        task.add_done_callback(self._cleanup.discard)

    def is_valid_name(self, name: str) -> bool:
        return _NAME.match(name) is not None

    async def locate(self, name: str) -> S3Image | None:
        match = _NAME.match(name)
        if match is None:
            return None
        return S3Image(self, self.key(name), int(match["length"], 16), CONTENT_TYPES[match["ext"]])

    async def sweep(self, now: float | None = None) -> int:
        """Delete every object whose URL expired over the grace ago; the listing is oldest first."""
        cutoff = (time.time() if now is None else now) - self.sweep_grace
        removed = 0
        prefix = f"{self.prefix}/" if self.prefix else ""
        async for chunk in obstore.list(self._store, prefix or None, chunk_size=_DELETE_BATCH):
            expired: list[str] = []
            live_seen = False
            for meta in chunk:
                match = _NAME.match(meta["path"][len(prefix) :])
                if match is None:
                    continue  # not ours: never touched
                if int(match["expires"]) > cutoff:
                    live_seen = True
                    break
                expired.append(meta["path"])
            if expired:  # one page at a time: a backlog of millions is never held in memory
                await self._bounded(obstore.delete_async(self._store, expired), "sweep")
                removed += len(expired)
            if live_seen:
                break
        return removed

    async def check(self) -> str | None:
        """A HEAD of a key that need not exist: an answer either way means reachable and authorised."""
        try:
            await self._bounded(obstore.head_async(self._store, self.key(".readyz")), "check")
        except _MISSING:
            return None
        except StoreUnavailable as error:
            return f"unreachable ({type(error.__cause__).__name__})"
        return None

    async def close(self) -> None:
        if self._cleanup:
            await asyncio.wait(set(self._cleanup), timeout=self.timeout)

    async def _bounded(self, work: Awaitable[T], what: str) -> T:
        """The call, or StoreUnavailable once the store fails or takes longer than the timeout.

        A missing object passes through: it is an answer, not a failure.
        """
        try:
            return await asyncio.wait_for(work, self.timeout)
        except _MISSING:
            raise  # an answer: the store is up, the object is not there
        except (BaseError, TimeoutError, OSError) as error:
            log.warning("image store %s failed: %s", what, type(error).__name__)
            raise StoreUnavailable() from error


@dataclass(slots=True)
class S3Image:
    store: S3ImageStore
    key: str
    length: int
    content_type: str

    async def open(self, start: int, size: int) -> S3Range:
        """One ranged GET; its body is read afterwards, so a 404 is known before answering."""
        getting = obstore.get_async(self.store._store, self.key, options={"range": (start, start + size)})
        try:
            result = await self.store._bounded(getting, "get")
        except _MISSING:
            raise ImageMissing from None
        return S3Range(self.store, result)


@dataclass(slots=True)
class S3Range:
    store: S3ImageStore
    result: obstore.GetResult

    async def read(self) -> bytes:
        return bytes(await self.store._bounded(self.result.bytes_async(), "read"))

    async def chunks(self, chunk_size: int) -> AsyncIterator[bytes]:
        async for chunk in self.result.stream(min_chunk_size=chunk_size):
            yield bytes(chunk)
