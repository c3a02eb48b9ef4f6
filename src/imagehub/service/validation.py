"""Check a request against its model's catalog entry and fill in the model's defaults.

Every rejection names the field and the values the model allows, so a client can fix the call
without reading our docs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from imagehub.catalog import Catalog, ModelSpec, Resolved, load_catalog
from imagehub.errors import InvalidRequest, NotFound
from imagehub.inputs.sources import ImageSource, request_operation, request_sources
from imagehub.schema.images import ImageJob, Operation
from imagehub.schema.wire import ImageGenerationRequest

log = logging.getLogger("imagehub.catalog")

DEFAULT_MODEL = "dall-e-2"
# OpenAI's defaults per endpoint: edits default to gpt-image-1.5, variations to dall-e-2.
DEFAULT_MODELS: dict[Operation, str] = {
    "generate": DEFAULT_MODEL,
    "edit": "gpt-image-1.5",
    "variation": "dall-e-2",
}
# OpenAI's spec: generations default to dall-e-2 "unless a parameter specific to the GPT image
# models is used"; then the spec's GPT image default serves them. The spec names gpt-image-1.5,
# shut down on 2026-12-01: the default is the model its successor chain reaches today
# (gpt-image-2.6-sunburst), so a request without `model` gets that model's own contract.
GPT_IMAGE_DEFAULT = "gpt-image-1.5"
GPT_IMAGE_ONLY_FIELDS = (
    "background",
    "moderation",
    "output_format",
    "output_compression",
    "partial_images",
    "input_fidelity",
)
MAX_N = 10
MAX_PARTIAL_IMAGES = 3

# imagehub's vendor extension fields (sent via the SDK's extra_body); values checked per model.
VENDOR_FIELDS = ("negative_prompt", "style_preset", "safety_tolerance", "prompt_upsampling")
# Fields whose presence is checked against the model's `fields` list.
_OPTIONAL_FIELDS = (
    "size",
    "quality",
    "style",
    "response_format",
    "background",
    "output_format",
    "output_compression",
    "moderation",
    "user",
    "image",
    "seed",
    "input_fidelity",
    "partial_images",
    "complexity",
    *VENDOR_FIELDS,
)
MAX_NEGATIVE_PROMPT = 10_000

MAX_SEED = 2**32 - 1
_SIZE = re.compile(r"^([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$")


def _listing(values: Sequence[str]) -> str:
    return ", ".join(values)


def _invalid(param: str, message: str, code: str = "invalid_value") -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


def _check_choice(spec: ModelSpec, param: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise _invalid(
            param,
            f"Invalid value for '{param}': {value!r}. {spec.name} supports: {_listing(allowed)}.",
        )


def _check_size(spec: ModelSpec, size: str) -> tuple[int, int]:
    """A listed size, or for a model with a size range any WIDTHxHEIGHT inside it; never resized."""
    if not spec.has_size_range:
        _check_choice(spec, "size", size, spec.sizes)
        return spec.pixel_size(size)
    if size in spec.sizes:
        return spec.pixel_size(size)
    match = _SIZE.match(size)
    problem = spec.size_problem(int(match[1]), int(match[2])) if match else "it is not WIDTHxHEIGHT"
    if problem is None and match:
        return int(match[1]), int(match[2])
    raise _invalid(
        "size",
        f"Invalid value for 'size': {size!r}: {problem}. {spec.name} takes {spec.range_rule()} "
        f"(for example {_listing(spec.sizes)}).",
    )


def _check_seed(seed: int | None) -> None:
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise _invalid("seed", f"'seed' must be from 0 to {MAX_SEED}; got {seed}.")


def _vendor_extras(spec: ModelSpec, req: ImageGenerationRequest) -> tuple[tuple[str, str | int | bool], ...]:
    """The vendor fields the request set, each checked against the model's catalog values.

    Presence was already checked (`fields`); this checks the value: a listed choice, an integer
    in the model's range, a negative prompt of sane length.
    """
    extras: list[tuple[str, str | int | bool]] = []
    for name in VENDOR_FIELDS:
        value = getattr(req, name)
        if value is None:
            continue
        if name in spec.extra_choices:
            _check_choice(spec, name, str(value), spec.extra_choices[name])
        if name in spec.extra_ranges:
            low, high = spec.extra_ranges[name]
            if not low <= value <= high:
                raise _invalid(name, f"'{name}' must be from {low} to {high} for {spec.name}; got {value}.")
        if name == "negative_prompt" and len(str(value)) > MAX_NEGATIVE_PROMPT:
            raise _invalid(
                name,
                f"'negative_prompt' accepts at most {MAX_NEGATIVE_PROMPT} characters.",
                code="string_above_max_length",
            )
        extras.append((name, value))
    return tuple(extras)


def default_model(req: ImageGenerationRequest) -> str:
    """The model a request without `model` gets: per endpoint, and OpenAI's GPT image rule."""
    operation = request_operation(req)
    if operation == "generate" and any(getattr(req, name) is not None for name in GPT_IMAGE_ONLY_FIELDS):
        return load_catalog().live_successor(GPT_IMAGE_DEFAULT)
    if operation == "edit":
        return load_catalog().live_successor(DEFAULT_MODELS[operation])
    return DEFAULT_MODELS[operation]


def lookup_model(catalog: Catalog, name: str) -> Resolved:
    """The model behind a requested name, or 404 model_not_found naming the closest catalog name."""
    if not name.strip():
        raise _invalid("model", "'model' must not be empty.", code="empty_string")
    found = catalog.lookup(name)
    if found is None:
        guess = catalog.suggest(name)
        hint = f"Did you mean {guess!r}? " if guess else ""
        raise NotFound(
            f"The model {name!r} does not exist on this hub. {hint}"
            f"GET /v1/models lists the models. Available: {_listing(catalog.names())}.",
            param="model",
            code="model_not_found",
        )
    return found


def resolve_model(
    catalog: Catalog, requested: str | None, default: str = DEFAULT_MODEL
) -> tuple[ModelSpec, str | None]:
    found = lookup_model(catalog, requested if requested is not None else default)
    return found.spec, found.provider


def _check_prompt(spec: ModelSpec, prompt: str) -> None:
    if not prompt.strip():
        raise _invalid("prompt", "'prompt' must not be empty.", code="empty_string")
    if len(prompt) > spec.max_prompt_chars:
        raise _invalid(
            "prompt",
            f"'prompt' is {len(prompt)} characters; {spec.name} accepts at most {spec.max_prompt_chars}.",
            code="string_above_max_length",
        )


def _check_n(spec: ModelSpec, n: int) -> None:
    if n < 1:
        raise _invalid("n", f"'n' must be at least 1; got {n}.", code="integer_below_min_value")
    limit = min(spec.max_n, MAX_N)
    if n > limit:
        only = "only n=1 is" if limit == 1 else f"n from 1 to {limit} is"
        raise _invalid(
            "n", f"'n' is {n}, but for {spec.name} {only} supported.", code="integer_above_max_value"
        )


def _check_unsupported_fields(spec: ModelSpec, req: ImageGenerationRequest) -> None:
    for name in _OPTIONAL_FIELDS:
        if name == "partial_images" and req.stream:
            continue  # the hub streams every model; where the upstream cannot, previews are skipped
        if getattr(req, name) is not None and not spec.accepts(name):
            if name == "image" and spec.edit_endpoint:
                message = f"{spec.name} takes source images only on POST /images/edits, not as 'image' here."
            elif name == "image":
                message = (
                    f"{spec.name} cannot edit images, so 'image' is not accepted. "
                    "Use a model that can edit, such as gpt-image-1 or gemini-2.5-flash-image."
                )
            else:
                message = f"'{name}' is not supported by {spec.name}."
            raise _invalid(name, message, code="unsupported_parameter")
    # Without streaming, OpenAI's partial_images has nothing to do: accepted in range, then unused.
    if req.partial_images is not None and not 0 <= req.partial_images <= MAX_PARTIAL_IMAGES:
        raise _invalid(
            "partial_images",
            f"'partial_images' must be 0-{MAX_PARTIAL_IMAGES}; got {req.partial_images}.",
        )


def _resolve_quality(spec: ModelSpec, quality: str | None) -> str | None:
    if quality is None:
        return spec.default_quality
    quality = spec.quality_aliases.get(quality, quality)
    _check_choice(spec, "quality", quality, spec.qualities)
    return quality


def _resolve_output(
    spec: ModelSpec, req: ImageGenerationRequest, background: str | None
) -> tuple[str, int | None]:
    output_format = req.output_format or spec.output_formats[0]
    _check_choice(spec, "output_format", output_format, spec.output_formats)
    compression = req.output_compression
    if compression is not None:
        if not 0 <= compression <= 100:
            raise _invalid("output_compression", f"'output_compression' must be 0-100; got {compression}.")
        if compression == 100 and output_format not in ("jpeg", "webp"):
            compression = None  # OpenAI's default, harmless with png: nothing to forward
        elif output_format not in ("jpeg", "webp"):
            raise _invalid(
                "output_compression",
                "'output_compression' applies only to output_format jpeg or webp.",
                code="unsupported_parameter",
            )
    if background == "transparent" and output_format not in ("png", "webp"):
        raise _invalid(
            "background", "A transparent background needs output_format png or webp.", code="invalid_value"
        )
    return output_format, compression


def _check_operation(catalog: Catalog, spec: ModelSpec, operation: Operation) -> None:
    """The edits and variations endpoints serve only the models the catalog says can."""
    if operation == "generate":
        if not spec.generates:
            raise _invalid(
                "model",
                f"{spec.name} only edits images: send it to /images/edits with an image.",
                code="model_not_supported",
            )
        return
    endpoint, able = (
        ("edits", [s.name for s in catalog if s.edit_endpoint])
        if operation == "edit"
        else ("variations", [s.name for s in catalog if s.variations])
    )
    if spec.name not in able:
        raise _invalid(
            "model",
            f"{spec.name} does not serve /images/{endpoint}. Models that do: {_listing(able)}.",
            code="model_not_supported",
        )


def _check_sources(
    spec: ModelSpec,
    req: ImageGenerationRequest,
    operation: Operation,
    sources: tuple[ImageSource, ...],
    mask: ImageSource | None,
) -> None:
    """Per-model counts and the fields that only make sense with source images."""
    if sources:
        name = sources[0].param.split("[")[0]
        limit = 1 if operation == "variation" else spec.max_input_images
        if len(sources) > limit:
            raise _invalid(
                name,
                f"'{name}' has {len(sources)} images; {spec.name} takes at most {limit}.",
                code="array_above_max_length",
            )
    if mask is not None and not spec.accepts_mask:
        raise _invalid("mask", f"{spec.name} does not take a mask.", code="unsupported_parameter")
    if req.input_fidelity is not None and not sources:
        raise _invalid(
            "input_fidelity",
            "'input_fidelity' applies only to edits of source images.",
            "unsupported_parameter",
        )


def validate_generation(catalog: Catalog, req: ImageGenerationRequest) -> ImageJob:
    """Turn a wire request into an ImageJob, or raise InvalidRequest naming the first bad field.

    Source images are counted and matched against the model here but not read: `job.images` stays
    empty until the service's InputLoader has decoded, fetched and verified them.
    """
    operation = request_operation(req)
    found = lookup_model(catalog, req.model if req.model is not None else default_model(req))
    spec, provider = found.spec, found.provider
    if found.alias is not None and found.alias.deprecated:
        log.warning("deprecated model %r requested; served by %s", req.model, spec.name)
    _check_operation(catalog, spec, operation)
    if operation != "variation":
        _check_prompt(spec, req.prompt)
    _check_unsupported_fields(spec, req)
    n = 1 if req.n is None else req.n
    _check_n(spec, n)

    requested_size = found.alias.size(req.size) if found.alias else req.size
    size = requested_size if requested_size is not None else spec.default_size
    width, height = _check_size(spec, size)
    _check_seed(req.seed)

    quality = _resolve_quality(spec, req.quality)
    style = req.style if req.style is not None else spec.default_style
    if req.style is not None:
        _check_choice(spec, "style", req.style, spec.styles)
    background = req.background
    if background is not None:
        _check_choice(spec, "background", background, spec.backgrounds)
    output_format, compression = _resolve_output(spec, req, background)

    sources, mask = request_sources(req)
    _check_sources(spec, req, operation, sources, mask)
    return ImageJob(
        spec=spec,
        provider=provider,
        prompt=req.prompt,
        n=n,
        size=size,
        width=width,
        height=height,
        response_format=req.response_format or spec.default_response_format,
        output_format=output_format,
        quality=quality,
        style=style,
        background=background,
        output_compression=compression,
        moderation=req.moderation,
        user=req.user,
        seed=req.seed,
        operation=operation,
        input_fidelity=req.input_fidelity,
        complexity=req.complexity,
        extras=_vendor_extras(spec, req),
    )
