"""A local-disk blob store whose file names carry their own expiry.

`<expires>-<token>.<ext>`: the sweeper finds expired files from names alone, so storing an image
costs one file write and no database row, and nothing outlives its URL for long.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_NAME = re.compile(r"^(?P<expires>\d{10,12})-(?P<token>[A-Za-z0-9_-]{22})\.(?P<ext>png|jpeg|webp)$")


@dataclass(frozen=True, slots=True)
class StoredImage:
    name: str  # file name and URL path segment
    expires: int


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._shards: set[Path] = set()  # shard directories known to exist (saves a syscall a put)

    def _path(self, name: str) -> Path:
        # Two-character shards keep directories small under heavy use.
        token = name.split("-", 1)[1]
        return self.root / token[:2] / name

    def put(self, data: bytes, ext: str, expires: int) -> StoredImage:
        """Write atomically (temp file + rename) so a reader never sees half an image."""
        name = f"{expires}-{secrets.token_urlsafe(16)}.{ext}"
        path = self._path(name)
        if path.parent not in self._shards:
            path.parent.mkdir(exist_ok=True)
            self._shards.add(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return StoredImage(name=name, expires=expires)

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(name).unlink()

    def locate(self, name: str) -> tuple[Path, str] | None:
        """Path and content type for a well-formed name that exists; None otherwise."""
        match = _NAME.match(name)
        if match is None:
            return None
        path = self._path(name)
        if not path.is_file():
            return None
        return path, CONTENT_TYPES[match["ext"]]

    @staticmethod
    def is_valid_name(name: str) -> bool:
        return _NAME.match(name) is not None

    def writable(self) -> bool:
        return self.root.is_dir() and os.access(self.root, os.W_OK)

    def sweep(self, now: float | None = None) -> int:
        """Delete expired images and stale temp files; return how many files went."""
        now = time.time() if now is None else now
        removed = 0
        for shard in self.root.iterdir():
            if not shard.is_dir():
                continue
            for entry in os.scandir(shard):
                match = _NAME.match(entry.name)
                stale_tmp = entry.name.startswith(".tmp-") and entry.stat().st_mtime < now - 3600
                if (match and int(match["expires"]) <= now) or stale_tmp:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                        removed += 1
        return removed
