"""What a provider yields while it streams: previews, finished images, then the whole result.

A streaming provider's iterator yields, in order, any number of `PartialImage`s and one
`GeneratedImage` per image as each is finished, and last the `GenerationResult` (all images,
usage, echo), from which the request is settled.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol

from imagehub.schema.images import GeneratedImage, GenerationResult, ImageJob


@dataclass(frozen=True, slots=True)
class PartialImage:
    """A preview of image `image_index` of the request: the `partial_index`-th, 0-based."""

    b64: str
    partial_index: int
    format: str
    image_index: int = 0


StreamItem = PartialImage | GeneratedImage | GenerationResult


class StreamingProvider(Protocol):
    """A provider that can show its work: previews as it draws, each image as soon as it is done."""

    name: str

    def stream(self, job: ImageJob, partial_images: int) -> AsyncGenerator[StreamItem, None]: ...


def preview_steps(steps: int, partial_images: int) -> tuple[int, ...]:
    """Evenly spaced step indices (0-based, before the last) at which to show a preview.

    Fewer than asked when the model finishes in fewer steps (as OpenAI warns it may send fewer).
    """
    if partial_images <= 0 or steps <= 1:
        return ()
    wanted = min(partial_images, steps - 1)
    return tuple(sorted({round((index + 1) * steps / (wanted + 1)) - 1 for index in range(wanted)}))


async def whole_answer(result: GenerationResult) -> AsyncGenerator[StreamItem, None]:
    """The items of an answer that came whole: each image, then the result."""
    for image in result.images:
        yield image
    yield result
