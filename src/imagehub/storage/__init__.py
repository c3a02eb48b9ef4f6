"""Where generated images live until their signed URLs expire."""

from imagehub.storage.filesystem import FileStore, LocatedImage, StoredImage
from imagehub.storage.signing import UrlSigner, load_or_create_secret

__all__ = ["FileStore", "LocatedImage", "StoredImage", "UrlSigner", "load_or_create_secret"]
