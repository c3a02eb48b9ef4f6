"""ModelSpec: what one public model accepts; Alias: a name served by another model. From models.toml."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from imagehub.catalog.lifecycle import Lifecycle


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    display_name: str
    providers: tuple[str, ...]
    fields: frozenset[str]
    sizes: tuple[str, ...]
    default_size: str
    max_n: int
    max_prompt_chars: int
    default_response_format: str
    output_formats: tuple[str, ...] = ("png",)
    qualities: tuple[str, ...] = ()
    default_quality: str | None = None
    quality_aliases: dict[str, str] = field(default_factory=dict)
    styles: tuple[str, ...] = ()
    default_style: str | None = None
    backgrounds: tuple[str, ...] = ()
    aspect_ratios: dict[str, str] = field(default_factory=dict)
    auto_size: str | None = None
    api: str | None = None
    created: int = 0  # Unix time of the day the model became available upstream
    extends: str | None = None  # the model whose fields (and, unless listed, prices) this one takes
    # Gemini imageConfig.imageSize per allowed size ("1K", "2K", "4K"), from `resolutions`.
    image_sizes: dict[str, str] = field(default_factory=dict)
    # Typical output tokens of a 1024x1024 image per quality: the sandbox's usage report.
    output_tokens: dict[str, int] = field(default_factory=dict)
    can_edit: bool = False
    revises_prompt: bool = False
    reports_echo: bool = False
    upstream_streams: bool = False  # the upstream API takes `stream` and sends partial images
    upstream_response_format: bool = True
    # A model that takes any size in a range (local diffusion models) sets these; `sizes` then
    # lists the recommended ones and any WIDTHxHEIGHT with both sides in range is accepted too.
    min_side: int | None = None
    max_side: int | None = None
    side_multiple: int = 1
    max_aspect_ratio: float | None = None  # long side / short side
    min_pixels: int | None = None
    max_pixels: int | None = None
    # Source images. "image" in `fields` means `image` on /images/generations; these say the rest.
    edit_endpoint: bool = False  # serves POST /images/edits
    variations: bool = False  # serves POST /images/variations
    accepts_mask: bool = False  # takes `mask` on edits
    mask_from_alpha: bool = False  # with no mask, the image's own transparency marks what to edit
    input_formats: tuple[str, ...] = ("png", "jpeg", "webp")
    max_input_images: int = 16
    max_input_bytes: int = 50 * 1024 * 1024
    max_input_pixels: int = 64_000_000  # the hub's own cap unless the upstream documents a lower one
    square_input: bool = False
    # The upstream edits at the source image's own size (Stability's and Ideogram's inpaint):
    # an edit's `size` must equal it, else a 400, never a silently different size.
    edits_at_source_size: bool = False
    generates: bool = True  # false: an edit-only service (/images/edits only)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    # Vendors (vendors.toml). The model's id on each provider that names it differently from the
    # hub (`fal = "fal-ai/flux-2-pro"`); one call makes at most this many images (0: all of `n`);
    # allowed values of vendor extension fields (style_preset) and inclusive integer ranges
    # (safety_tolerance).
    upstream_ids: dict[str, str] = field(default_factory=dict)
    images_per_call: int = 0
    extra_choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    extra_ranges: dict[str, tuple[int, int]] = field(default_factory=dict)
    notes: str = ""  # what could not be verified about this entry

    def upstream_id(self, provider: str) -> str:
        """The name `provider` knows this model by: its own entry, else the hub's name."""
        return self.upstream_ids.get(provider, self.name)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_formats", tuple(self.input_formats))  # TOML gives lists
        object.__setattr__(self, "extra_choices", {k: tuple(v) for k, v in self.extra_choices.items()})
        ranges = {k: (int(v[0]), int(v[1])) for k, v in self.extra_ranges.items()}
        object.__setattr__(self, "extra_ranges", ranges)
        for name in (*self.extra_choices, *self.extra_ranges):
            if name not in self.fields:
                raise ValueError(f"catalog: {self.name}: {name} has values but is not in fields")
        if "image" in self.fields and not self.can_edit:
            raise ValueError(f"catalog: {self.name}: takes `image` but can_edit is false")
        if not self.generates and not self.edit_endpoint:
            raise ValueError(f"catalog: {self.name}: neither generates nor edits")
        if (self.accepts_mask or self.mask_from_alpha) and not self.edit_endpoint:
            raise ValueError(f"catalog: {self.name}: a mask needs edit_endpoint")

    def accepts(self, field_name: str) -> bool:
        return field_name in self.fields

    @property
    def has_size_range(self) -> bool:
        return self.min_side is not None and self.max_side is not None

    def size_in_range(self, width: int, height: int) -> bool:
        """Whether an arbitrary size fits the model's range; always false without a range."""
        return self.has_size_range and self.size_problem(width, height) is None

    def size_problem(self, width: int, height: int) -> str | None:
        """The first range rule that WIDTHxHEIGHT breaks, in words; None when it fits."""
        if self.min_side is None or self.max_side is None:
            return "the model has no size range"
        for side in (width, height):
            if not self.min_side <= side <= self.max_side:
                return f"each side must be from {self.min_side} to {self.max_side} pixels"
            if side % self.side_multiple:
                return f"each side must be a multiple of {self.side_multiple} ({side} is not)"
        ratio = max(width, height) / min(width, height)
        if self.max_aspect_ratio is not None and ratio > self.max_aspect_ratio:
            limit = f"{self.max_aspect_ratio:g}"
            return f"the aspect ratio must be between 1:{limit} and {limit}:1 (this one is {ratio:.2f}:1)"
        pixels = width * height
        if self.min_pixels is not None and pixels < self.min_pixels:
            return f"it must have at least {self.min_pixels:,} pixels ({pixels:,} here)"
        if self.max_pixels is not None and pixels > self.max_pixels:
            return f"it must have at most {self.max_pixels:,} pixels ({pixels:,} here)"
        return None

    def range_rule(self) -> str:
        """The size range in one sentence, for error messages and the models API."""
        parts = [f"each side from {self.min_side} to {self.max_side}"]
        if self.side_multiple > 1:
            parts[0] += f" and a multiple of {self.side_multiple}"
        if self.max_aspect_ratio is not None:
            limit = f"{self.max_aspect_ratio:g}"
            parts.append(f"an aspect ratio between 1:{limit} and {limit}:1")
        if self.min_pixels is not None and self.max_pixels is not None:
            parts.append(f"{self.min_pixels:,} to {self.max_pixels:,} pixels")
        return "WIDTHxHEIGHT with " + ", ".join(parts)

    def pixel_size(self, size: str) -> tuple[int, int]:
        """Width and height for an allowed size; `auto` resolves to the model's usual size."""
        concrete = self.auto_size if size == "auto" and self.auto_size else size
        width, height = concrete.split("x")
        return int(width), int(height)


@dataclass(frozen=True, slots=True)
class Alias:
    """A name the hub accepts on behalf of another model: a shut-down or renamed one."""

    name: str
    target: str
    deprecated: bool = False
    shutdown_date: date | None = None
    sizes: dict[str, str] = field(default_factory=dict)  # the old model's sizes -> the target's
    # Refused with 410 model_shut_down naming `target` as the replacement, instead of served.
    refuse: bool = False
    notice: date | None = None  # when the shutdown was announced (the Deprecation header's date)
    source: str | None = None

    def size(self, size: str | None) -> str | None:
        return self.sizes.get(size, size) if size is not None else None
