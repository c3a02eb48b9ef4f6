"""Wire models of the images API, exactly the fields OpenAI's spec and our API page define.

Strict: an unknown field, or a value of the wrong JSON type, is a 400 rather than a guess.
Per-model rules (sizes, n, lengths) live in the catalog, not here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ImageGenerationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: str = Field(description="What to draw. Its maximum length depends on the model.")
    model: str | None = Field(
        default=None, description="Model name, optionally pinned to a provider: `openai/dall-e-3`."
    )
    image: str | list[str] | None = Field(
        default=None, description="Source image(s) to edit: URL, base64 or data: URI; up to 16."
    )
    n: int | None = Field(default=None, description="How many images, 1-10 (dall-e-3: 1).")
    size: str | None = Field(default=None, description="WIDTHxHEIGHT from the model's list, or `auto`.")
    response_format: Literal["url", "b64_json"] | None = None
    quality: Literal["standard", "hd", "low", "medium", "high", "xhigh", "max", "auto"] | None = None
    style: Literal["vivid", "natural"] | None = None
    background: Literal["transparent", "opaque", "auto"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: int | None = Field(default=None, description="0-100, for jpeg and webp output.")
    moderation: Literal["low", "auto"] | None = None
    complexity: Literal["low", "medium", "high"] | None = Field(
        default=None, description="gpt-image-2.6: how much the model plans before drawing (default high)."
    )
    input_fidelity: Literal["high", "low"] | None = Field(
        default=None, description="With `image`: how closely to keep the input's details (GPT image models)."
    )
    stream: bool | None = Field(default=None, description="Streaming is not supported; false or omitted.")
    partial_images: int | None = Field(default=None, description="Only meaningful with streaming.")
    user: str | None = None
    seed: int | None = Field(
        default=None,
        description="imagehub extension: 0-4294967295 for reproducible output, on models that list it "
        "(the local engine). Image i of a request uses seed + i.",
    )
    # Vendor options (the SDK's `extra_body`): each is accepted only by the models whose catalog
    # entry lists it, with the values that entry allows, and mapped to the vendor's own parameter.
    negative_prompt: str | None = Field(
        default=None,
        description="imagehub extension: what to keep out of the image (Stability, Ideogram, …).",
    )
    style_preset: str | None = Field(
        default=None, description="imagehub extension: the vendor's style preset, from the model's list."
    )
    safety_tolerance: int | None = Field(
        default=None,
        description="imagehub extension: the vendor's moderation level (BFL: 0 strict to 5 or 6).",
    )
    prompt_upsampling: bool | None = Field(
        default=None,
        description="imagehub extension: let the vendor rewrite the prompt (BFL, Ideogram, DashScope).",
    )


class _EditOptions(BaseModel):
    """The fields of OpenAI's CreateImageEditRequest besides the images themselves."""

    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: str = Field(description="What to change. Its maximum length depends on the model.")
    model: str | None = Field(
        default=None,
        description="OpenAI's default, gpt-image-1.5, followed to the model that succeeds it today "
        "(gpt-image-2.6-sunburst since 2026-12-01).",
    )
    n: int | None = None
    size: str | None = None
    response_format: Literal["url", "b64_json"] | None = None
    quality: Literal["standard", "hd", "low", "medium", "high", "xhigh", "max", "auto"] | None = None
    background: Literal["transparent", "opaque", "auto"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: int | None = None
    moderation: Literal["low", "auto"] | None = None
    input_fidelity: Literal["high", "low"] | None = None
    stream: bool | None = None
    partial_images: int | None = None
    user: str | None = None
    seed: int | None = Field(default=None, description="imagehub extension, as on generations.")
    # Vendor options, as on generations: accepted only where the model's catalog entry lists them.
    negative_prompt: str | None = Field(default=None, description="imagehub extension, as on generations.")
    style_preset: str | None = Field(default=None, description="imagehub extension, as on generations.")
    safety_tolerance: int | None = Field(default=None, description="imagehub extension, as on generations.")
    prompt_upsampling: bool | None = Field(default=None, description="imagehub extension, as on generations.")


class ImageEditForm(_EditOptions):
    """The text fields of a multipart POST /images/edits; files come as `image`/`image[]` and `mask`."""


class ImageReference(BaseModel):
    """OpenAI's ImageRefParam: an http(s) URL or a base64 `data:` URL, or an uploaded file's id."""

    model_config = ConfigDict(extra="forbid", strict=True)

    image_url: str | None = None
    file_id: str | None = None


class ImageEditRequest(_EditOptions):
    """The JSON form of POST /images/edits: images by reference instead of uploads."""

    images: list[ImageReference] = Field(description="1 to 16 source images; the mask applies to the first.")
    mask: ImageReference | None = Field(
        default=None,
        description="PNG whose fully transparent areas mark where to edit; same size as images[0].",
    )


class ImageVariationForm(BaseModel):
    """The text fields of a multipart POST /images/variations (the file is `image`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str | None = Field(default=None, description="Only dall-e-2 makes variations.")
    n: int | None = None
    size: str | None = None
    response_format: Literal["url", "b64_json"] | None = None
    user: str | None = None


class ImageData(BaseModel):
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None


class ImagesResponse(BaseModel):
    """OpenAI's ImagesResponse. `data[]` items carry `url` or `b64_json`, never both."""

    created: int
    data: list[ImageData]
    background: str | None = None
    output_format: str | None = None
    size: str | None = None
    quality: str | None = None
    usage: dict[str, object] | None = None
