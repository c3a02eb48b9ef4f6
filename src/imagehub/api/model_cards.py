"""OpenAI's Model object for a catalog entry, with what the hub knows under the `imagehub` key.

`id`, `object`, `created`, `owned_by` (and `shutdown_date` for names that are going away) are
exactly OpenAI's fields, so `client.models.retrieve()` and `models.list()` parse them; everything
the hub adds lives under one extension key so it can never collide with a field OpenAI adds later.
"""

from __future__ import annotations

import calendar
from typing import Any

from imagehub.billing.pricing import PriceBook
from imagehub.catalog import Alias, ModelSpec, today
from imagehub.service.validation import DEFAULT_MODELS

EXTENSION_KEY = "imagehub"


def _sizes(spec: ModelSpec) -> dict[str, Any]:
    sizes: dict[str, Any] = {"sizes": list(spec.sizes), "default_size": spec.default_size}
    if spec.has_size_range:
        sizes["size_rule"] = spec.range_rule()
    if spec.aspect_ratios:
        sizes["aspect_ratios"] = dict(spec.aspect_ratios)
    if spec.image_sizes:
        sizes["image_sizes"] = dict(spec.image_sizes)
    return sizes


def capabilities(spec: ModelSpec, prices: PriceBook) -> dict[str, Any]:
    """What a client needs to build a valid request for `spec`, and what it costs."""
    return {
        "display_name": spec.display_name,
        "providers": list(spec.providers),
        **_sizes(spec),
        "max_n": spec.max_n,
        "max_prompt_chars": spec.max_prompt_chars,
        "fields": sorted(spec.fields),
        "qualities": list(spec.qualities),
        "default_quality": spec.default_quality,
        "styles": list(spec.styles),
        "default_style": spec.default_style,
        "backgrounds": list(spec.backgrounds),
        "output_formats": list(spec.output_formats),
        "default_response_format": spec.default_response_format,
        "seed": spec.accepts("seed"),
        "revises_prompt": spec.revises_prompt,
        "generations": spec.generates,  # false: an edit-only service (stable-image-inpaint)
        "edits": {
            "image_on_generations": spec.can_edit,
            "edits_endpoint": spec.edit_endpoint,
            "variations_endpoint": spec.variations,
            "mask": spec.accepts_mask,
            "input_fidelity": spec.accepts("input_fidelity"),
            "max_input_images": spec.max_input_images,
            "input_formats": list(spec.input_formats),
            "max_input_bytes": spec.max_input_bytes,
        },
        "price": prices.listing(spec.name),
        # The operations that use this model when a request names none (OpenAI's defaults).
        "default_for": [operation for operation, name in DEFAULT_MODELS.items() if name == spec.name],
    }


def model_object(
    name: str,
    spec: ModelSpec,
    owners: list[str],
    *,
    available: bool,
    prices: PriceBook,
    alias: Alias | None = None,
) -> dict[str, Any]:
    """The entry for `name`: a model's own, or an alias's, which describes the model serving it."""
    extension: dict[str, Any] = {"available": available, **capabilities(spec, prices)}
    entry: dict[str, Any] = {
        "id": name,
        "object": "model",
        "created": spec.created,
        "owned_by": ",".join(owners),
    }
    if spec.extends is not None:
        extension["snapshot_of"] = spec.extends
    lifecycle = spec.lifecycle
    extension["lifecycle"] = lifecycle.public()
    extension["deprecated"] = lifecycle.deprecated_on(today())
    extension["successor"] = lifecycle.successor
    if lifecycle.shutdown_date is not None:
        entry["shutdown_date"] = lifecycle.shutdown_date.isoformat()
    if alias is not None:
        extension["alias_of"] = alias.target
        extension["deprecated"] = alias.deprecated
        if alias.shutdown_date is not None:
            entry["shutdown_date"] = alias.shutdown_date.isoformat()
            extension["upstream_shutdown"] = calendar.timegm(alias.shutdown_date.timetuple())
    entry[EXTENSION_KEY] = extension
    return entry
