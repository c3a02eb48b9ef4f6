"""Where generated images live until their signed URLs expire."""

from imagehub.storage.filesystem import FileStore, StoredImage
from imagehub.storage.signing import UrlSigner, load_or_create_secret

__all__ = ["FileStore", "StoredImage", "UrlSigner", "load_or_create_secret"]
