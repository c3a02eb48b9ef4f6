"""Serve a retired model's request on its successor, keeping the retired model's contract.

The request has already been validated by the model the client named. When no deployment still
serves that name (natively listed, or on a provider whose dates say it lives), the job is
rebuilt for the first model along the successor chain that is served: the size becomes one of
the same aspect ratio at or above it (the image is resized back later, see `fitting`), the
quality and style follow the rule in the retired model's `lifecycle` table, and `asked` keeps
what the client asked for, so the answer keeps the old shape and says who served it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import date

from imagehub.catalog import Catalog, ModelSpec
from imagehub.catalog.sizing import successor_size
from imagehub.errors import Gone
from imagehub.schema.images import AskedFor, ImageJob

log = logging.getLogger("imagehub.lifecycle")

#: Whether some deployment (or the sandbox) serves this model today, under the job's pin.
Serves = Callable[[str], bool]


def refuse_if_told(catalog: Catalog, name: str) -> None:
    """An operator's `refuse = true` for a name: 410 model_shut_down naming the replacement."""
    override = catalog.override(name) or catalog.alias(name)
    if override is None or not override.refuse:
        return
    when = f" on {override.shutdown_date.isoformat()}" if override.shutdown_date else ""
    raise Gone(
        f"The model {name!r} was shut down{when}. Use {override.target!r} instead.",
        param="model",
        code="model_shut_down",
    )


def serving_model(catalog: Catalog, name: str, serves: Serves, gone: Serves, on: date) -> str | None:
    """Which model serves requests for `name` today: itself, a successor, or None (gone for good).

    `gone` says an upstream has answered model_not_found for a name the catalog thinks live.
    """
    if catalog.override(name) is None and serves(name):
        return name
    if not (catalog.retired(name, on) or gone(name)):
        return name  # live by the catalog but not deployed: the router says how to configure it
    chain = catalog.chain(name)[1:]
    live = [model for model in chain if not catalog.retired(model, on) and not gone(model)]
    return next((model for model in live if serves(model)), live[0] if live else None)


def plan(catalog: Catalog, job: ImageJob, serves: Serves, gone: Serves, on: date) -> ImageJob:
    """The job to send: `job` itself while its model is served, else one for its successor."""
    name = job.spec.name
    refuse_if_told(catalog, name)
    chosen = serving_model(catalog, name, serves, gone, on)
    if chosen == name:
        return job
    if chosen is None:
        shutdown = job.spec.lifecycle.shutdown_date
        when = f" on {shutdown.isoformat()}" if shutdown else ""
        raise Gone(
            f"The model {name!r} was shut down{when} and no model on this hub succeeds it.",
            param="model",
            code="model_shut_down",
        )
    target = catalog.get(chosen)
    assert target is not None  # chain() yields catalog models only
    return successor_job(job, target)


def successor_job(job: ImageJob, target: ModelSpec) -> ImageJob:
    """`job`, asked of a retired model, as `target` takes it; `asked` keeps the original terms."""
    old = job.spec
    rules = old.lifecycle
    operation, prompt = job.operation, job.prompt
    if operation == "variation" and not target.variations:
        if rules.variation_prompt is None or not target.edit_endpoint:
            raise Gone(
                f"{old.name} is shut down, and its successor {target.name} makes no variations. "
                f"Use POST /images/edits with {target.name} and a prompt instead.",
                param="model",
                code="model_shut_down",
            )
        operation, prompt = "edit", rules.variation_prompt
    size = successor_size(old, job.size, job.width, job.height, target)
    width, height = target.pixel_size(size)
    quality = rules.quality_map.get(job.quality or "", job.quality)
    if quality not in target.qualities:
        quality = target.default_quality
    style = job.style
    if style is not None and style not in target.styles:
        words = rules.style_prompt.get(style)
        prompt, style = (f"{prompt}\n\n{words}" if words else prompt), None
    output_format = job.output_format if job.output_format in target.output_formats else None
    deprecated, sunset = rules.dates_for(job.provider or (old.providers[0] if old.providers else None))
    mask = job.mask
    if mask is None and job.images and old.mask_from_alpha and target.accepts_mask:
        mask = job.images[0]  # the old model edited where the image is transparent
    log.info("%s is shut down; %s serves it under its contract", old.name, target.name)
    return replace(
        job,
        spec=target,
        operation=operation,
        provider=job.provider if job.provider in target.providers else None,
        prompt=prompt[: target.max_prompt_chars],
        size=size,
        width=width,
        height=height,
        quality=quality,
        style=style,
        output_format=output_format or target.output_formats[0],
        background=job.background if target.accepts("background") else None,
        moderation=job.moderation if target.accepts("moderation") else None,
        input_fidelity=job.input_fidelity if target.accepts("input_fidelity") else None,
        complexity=job.complexity if target.accepts("complexity") else None,
        seed=job.seed if target.accepts("seed") else None,
        mask=mask,
        asked=job.asked
        or AskedFor(
            spec=old,
            size=job.size,
            width=job.width,
            height=job.height,
            quality=job.quality,
            deprecated=deprecated or sunset,
            sunset=sunset,
        ),
    )
