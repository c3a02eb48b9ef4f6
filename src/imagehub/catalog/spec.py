"""ModelSpec: what one public model accepts, loaded from models.toml."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    # Source images. "image" in `fields` means `image` on /images/generations; these say the rest.
    edit_endpoint: bool = False  # serves POST /images/edits
    variations: bool = False  # serves POST /images/variations
    accepts_mask: bool = False  # takes `mask` on edits
    mask_from_alpha: bool = False  # with no mask, the image's own transparency marks what to edit
    input_formats: tuple[str, ...] = ("png", "jpeg", "webp")
    max_input_images: int = 16
    max_input_bytes: int = 50 * 1024 * 1024
    square_input: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_formats", tuple(self.input_formats))  # TOML gives lists
        if "image" in self.fields and not self.can_edit:
            raise ValueError(f"catalog: {self.name}: takes `image` but can_edit is false")
        if (self.accepts_mask or self.mask_from_alpha) and not self.edit_endpoint:
            raise ValueError(f"catalog: {self.name}: a mask needs edit_endpoint")

    def accepts(self, field_name: str) -> bool:
        return field_name in self.fields

    @property
    def has_size_range(self) -> bool:
        return self.min_side is not None and self.max_side is not None

    def size_in_range(self, width: int, height: int) -> bool:
        """Whether an arbitrary size fits the model's range; always false without a range."""
        if self.min_side is None or self.max_side is None:
            return False
        return all(
            self.min_side <= side <= self.max_side and side % self.side_multiple == 0
            for side in (width, height)
        )

    def pixel_size(self, size: str) -> tuple[int, int]:
        """Width and height for an allowed size; `auto` resolves to the model's usual size."""
        concrete = self.auto_size if size == "auto" and self.auto_size else size
        width, height = concrete.split("x")
        return int(width), int(height)
