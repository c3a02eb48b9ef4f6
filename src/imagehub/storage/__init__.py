"""Where generated images live until their signed URLs expire: local segments or an S3 bucket."""

from imagehub.storage.base import (
    ImageMissing,
    ImageStore,
    LocatedImage,
    OpenedImage,
    StoredImage,
    StoreUnavailable,
)
from imagehub.storage.filesystem import FileStore
from imagehub.storage.local import LocalStore
from imagehub.storage.signing import UrlSigner, load_or_create_secret

__all__ = [
    "FileStore",
    "ImageMissing",
    "ImageStore",
    "LocalStore",
    "LocatedImage",
    "OpenedImage",
    "StoreUnavailable",
    "StoredImage",
    "UrlSigner",
    "load_or_create_secret",
]
