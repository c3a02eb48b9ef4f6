"""Where a request's source images come from, before anything is read: uploads, base64 or URLs.

Every source keeps the name errors should use for it (`image`, `image[2]`, `images[0]`, `mask`),
so whatever goes wrong later (a refused URL, a truncated file) is reported against the field the
client actually sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import PrivateAttr

from imagehub.errors import InvalidRequest
from imagehub.schema.images import Operation
from imagehub.schema.wire import ImageEditRequest, ImageGenerationRequest

MAX_IMAGES = 16
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):(?://|[^A-Za-z0-9+/=])", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ImageSource:
    """One source image as sent: uploaded bytes, or text that is base64, a data: URI or a URL."""

    param: str
    data: bytes | None = None
    text: str | None = None

    @property
    def url(self) -> str | None:
        """The http(s) URL to fetch, when this source is one."""
        if self.text is not None and self.text[:8].lower().startswith(("http://", "https://")):
            return self.text
        return None


class ImageEditCall(ImageGenerationRequest):
    """Not a wire model: an edit or variation as the /images/edits and /images/variations routes
    hand it to the service.

    It is a generation request, so it takes the very same path through rate limits, reservation,
    routing, storage and settlement; its sources and mask ride along as private attributes, which
    no client JSON can set.
    """

    _operation: Operation = PrivateAttr(default="edit")
    _sources: tuple[ImageSource, ...] = PrivateAttr(default=())
    _mask: ImageSource | None = PrivateAttr(default=None)

    @classmethod
    def create(
        cls,
        operation: Literal["edit", "variation"],
        sources: tuple[ImageSource, ...],
        mask: ImageSource | None = None,
        **fields: Any,
    ) -> ImageEditCall:
        call = cls(**fields)
        call._operation = operation
        call._sources = sources
        call._mask = mask
        return call

    @property
    def operation(self) -> Operation:
        return self._operation

    @property
    def sources(self) -> tuple[ImageSource, ...]:
        return self._sources

    @property
    def mask_source(self) -> ImageSource | None:
        return self._mask


def check_count(count: int, name: str) -> None:
    """1 to 16 images, as OpenAI's edits endpoint takes; per-model limits come later."""
    if count == 0:
        raise InvalidRequest(f"'{name}' must contain at least one image.", param=name, code="empty_array")
    if count > MAX_IMAGES:
        raise InvalidRequest(
            f"'{name}' has {count} images; at most {MAX_IMAGES} are accepted.",
            param=name,
            code="array_above_max_length",
        )


def text_source(value: str, param: str) -> ImageSource:
    """An image given as text: an http(s) URL, a data: URI or raw base64; other schemes are refused."""
    text = value.strip()
    if not text:
        raise InvalidRequest(f"'{param}' is empty.", param=param, code="empty_string")
    scheme = _SCHEME.match(text)
    if scheme and scheme[1].lower() not in ("http", "https", "data"):
        raise InvalidRequest(
            f"'{param}' is a {scheme[1]}: URL; only http and https URLs (or base64 data) are accepted.",
            param=param,
            code="invalid_image_url",
        )
    return ImageSource(param=param, text=text)


def sources_from_field(value: str | list[str], name: str = "image") -> tuple[ImageSource, ...]:
    """A string or array of strings (URL, base64 or data: URI) as sources, checked for count only."""
    items = [value] if isinstance(value, str) else value
    check_count(len(items), name)
    return tuple(
        text_source(item, name if isinstance(value, str) else f"{name}[{index}]")
        for index, item in enumerate(items)
    )


def request_operation(request: ImageGenerationRequest) -> Operation:
    return request.operation if isinstance(request, ImageEditCall) else "generate"


def request_sources(request: ImageGenerationRequest) -> tuple[tuple[ImageSource, ...], ImageSource | None]:
    """A request's source images and mask: its uploads and references, or its `image` field."""
    if isinstance(request, ImageEditCall):
        return request.sources, request.mask_source
    if request.image is None:
        return (), None
    return sources_from_field(request.image), None


#: Uploaded images by file id, as the caller found them among the key's own files.
Uploads = Mapping[str, bytes]


def _reference(url: str | None, file_id: str | None, param: str, uploads: Uploads | None) -> ImageSource:
    if url is not None and file_id is not None:
        raise InvalidRequest(
            f"'{param}': give exactly one of 'image_url' and 'file_id'.", param=param, code="invalid_value"
        )
    if file_id is not None:
        if uploads is None:
            raise InvalidRequest(
                f"'{param}.file_id': file ids are not taken here; send 'image_url' "
                "(an http(s) URL or a data: URL).",
                param=param,
                code="unsupported_parameter",
            )
        if file_id not in uploads:
            raise InvalidRequest(
                f"'{param}.file_id': no image file '{file_id}' (upload it with purpose 'vision').",
                param=param,
                code="file_not_found",
            )
        return ImageSource(param=param, data=uploads[file_id])
    if url is None:
        raise InvalidRequest(
            f"Missing required parameter: '{param}.image_url'.",
            param=param,
            code="missing_required_parameter",
        )
    return text_source(url, param)


def file_ids(body: ImageEditRequest) -> set[str]:
    """The file ids an edit's JSON refers to (to look up before `json_edit_call`)."""
    refs = [*body.images, *([body.mask] if body.mask is not None else [])]
    return {ref.file_id for ref in refs if ref.file_id is not None}


def json_edit_call(body: ImageEditRequest, uploads: Uploads | None = None) -> ImageEditCall:
    """The JSON form of an edit (`images: [{"image_url": ...} | {"file_id": ...}]`) as the call
    the service runs.

    One reading for a synchronous JSON edit and a batch's `/v1/images/edits` line, so both refuse
    the same things with the same words. `uploads` are the key's image files the body refers to
    (None where there is no Files API, e.g. the engine). Nothing is fetched here: URLs are read
    when the edit runs.
    """
    check_count(len(body.images), "images")
    sources = tuple(
        _reference(ref.image_url, ref.file_id, f"images[{index}]", uploads)
        for index, ref in enumerate(body.images)
    )
    mask = (
        _reference(body.mask.image_url, body.mask.file_id, "mask", uploads) if body.mask is not None else None
    )
    fields = body.model_dump(exclude_none=True, exclude={"images", "mask"})
    return ImageEditCall.create("edit", sources, mask, **fields)
