"""Which image store a hub uses: `IMAGEHUB_STORE_URL`, the local segment store by default."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from imagehub.config import Settings
from imagehub.storage.base import ImageStore
from imagehub.storage.filesystem import FileStore
from imagehub.storage.local import LocalStore
from imagehub.storage.segments import bucket_seconds_for


def open_store(settings: Settings) -> ImageStore:
    """`s3://BUCKET/PREFIX` for a bucket every hub shares; unset or `file://PATH` for local disk."""
    url = settings.store_url
    if url and url.startswith("s3://"):
        try:
            from imagehub.storage.s3 import S3ImageStore
        except ImportError as error:  # pragma: no cover - every tested install has the extra
            raise RuntimeError(
                "IMAGEHUB_STORE_URL=s3://… needs the s3 extra, which is not installed: "
                "pip install 'imagehub[s3]', or unset IMAGEHUB_STORE_URL to keep images in the data directory"
            ) from error

        parts = urlsplit(url)
        if not parts.netloc:
            raise ValueError(f"IMAGEHUB_STORE_URL {url!r} names no bucket: use s3://BUCKET/PREFIX")
        return S3ImageStore(
            parts.netloc,
            parts.path.strip("/"),
            endpoint_url=settings.s3_endpoint_url,
            timeout_seconds=settings.store_timeout_seconds,
            image_urls=settings.image_urls,
            cdn_base_url=settings.image_base_url,
            # As for segments: a sixtieth of the URL lifetime, 1 s to 1 min.
            sweep_grace_seconds=bucket_seconds_for(settings.url_ttl_seconds),
        )
    if url and not url.startswith("file://"):
        raise ValueError(f"IMAGEHUB_STORE_URL {url!r}: expected s3://BUCKET/PREFIX or file:///PATH")
    if settings.image_urls != "hub" or settings.image_base_url:
        raise ValueError("IMAGEHUB_IMAGE_URLS=presigned and IMAGEHUB_IMAGE_BASE_URL need an s3:// store")
    root = Path(urlsplit(url).path) if url else settings.images_dir
    return LocalStore(FileStore(root, bucket_seconds_for(settings.url_ttl_seconds)))
