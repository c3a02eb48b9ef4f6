"""Plain data passed between the service and providers: what to make, and what was made."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from imagehub.catalog import ModelSpec
from imagehub.payloads import codec
from imagehub.payloads.spool import Spool

#: What a job asks of the provider: draw, edit source images, or vary one (dall-e-2).
Operation = Literal["generate", "edit", "variation"]


@dataclass(frozen=True, slots=True)
class InputImage:
    """One source image (or mask) for editing, decoded and verified by Pillow."""

    data: bytes | None = None
    url: str | None = None  # where it was fetched from, if it came as a URL
    format: str | None = None  # Pillow's name, lower case: png, jpeg, webp
    width: int = 0
    height: int = 0
    has_alpha: bool = False


@dataclass(frozen=True, slots=True)
class AskedFor:
    """The retired model a successor's job answers for: its contract shapes the answer.

    The client gets `width`x`height` exactly (the successor's image is resized), and the
    response shape of `spec` (no usage echo for DALL-E, `revised_prompt` only where it had one).
    """

    spec: ModelSpec
    size: str
    width: int
    height: int
    quality: str | None = None
    deprecated: date | None = None  # the Deprecation header's date
    sunset: date | None = None  # the shutdown date: the Sunset header


@dataclass(frozen=True, slots=True)
class ImageJob:
    """A validated generation request, with every default already applied from the catalog."""

    spec: ModelSpec
    provider: str | None  # pinned with `provider/model`, else None
    prompt: str
    n: int
    size: str
    width: int
    height: int
    response_format: str
    output_format: str
    quality: str | None = None
    style: str | None = None
    background: str | None = None
    output_compression: int | None = None
    moderation: str | None = None
    user: str | None = None
    images: tuple[InputImage, ...] = ()
    seed: int | None = None  # extension field: reproducible output where the model supports it
    operation: Operation = "generate"  # "generate" may carry images too: `image` on generations
    mask: InputImage | None = None  # edits: transparent areas mark where images[0] is edited
    input_fidelity: str | None = None
    complexity: str | None = None  # gpt-image-2.6: how much the model plans before drawing
    asked: AskedFor | None = None  # set when a successor serves a retired model's request

    @property
    def shown_spec(self) -> ModelSpec:
        """The model whose answer shape the client gets: the one it asked for."""
        return self.asked.spec if self.asked is not None else self.spec

    # Vendor extension fields the model's catalog entry accepts (negative_prompt, style_preset, …),
    # only those the request set; adapters map them to their vendor's own parameters.
    extras: tuple[tuple[str, str | int | bool], ...] = ()

    def extra(self, name: str) -> str | int | bool | None:
        """A vendor extension field's value, or None when the request did not set it."""
        return dict(self.extras).get(name)

    @property
    def is_edit(self) -> bool:
        return bool(self.images)


@dataclass(slots=True)
class GeneratedImage:
    """One image from a provider. Exactly one of `data`, `b64` and `spool` is set.

    Providers that receive base64 keep it as `b64` so a `b64_json` response can pass the string
    through without decoding and re-encoding it; a big one arrives as a `spool` (a temporary
    file, see payloads/), which the service copies to the client or decodes into the store a
    chunk at a time.
    """

    format: str
    data: bytes | None = None
    b64: str | None = None
    revised_prompt: str | None = None
    spool: Spool | None = None

    def image_bytes(self) -> bytes:
        """The decoded image in memory: only for work that needs it whole (pixels, small images)."""
        if self.data is not None:
            return self.data
        if self.spool is not None:
            return self.spool.decoded()
        return codec.decode(self.b64 or "")

    def close(self) -> None:
        """Give back the spool's budget now, not when the object is collected."""
        if self.spool is not None:
            self.spool.close()


@dataclass(slots=True)
class GenerationResult:
    images: list[GeneratedImage]
    provider: str
    sandbox: bool = False
    usage: dict[str, object] | None = None
    echo: dict[str, object] | None = None  # parameters the upstream reports it used
    kind: str | None = None  # the API that served it (fal, replicate, …) where prices differ by provider
