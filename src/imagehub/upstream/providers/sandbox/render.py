"""Pillow drawing for the sandbox engine: deterministic, offline, and plainly labelled.

Kept apart from the provider so the CPU-bound drawing can run in a worker thread.
"""

from __future__ import annotations

import io
import random
import textwrap
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont, ImageOps

from imagehub.upstream.providers.pixels import open_covering

BANNER = "IMAGEHUB SANDBOX - not a real model"


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(20, 236), rng.randrange(20, 236), rng.randrange(20, 236))


def edit_region(image: Image.Image) -> Image.Image:
    """Where an edit may paint: 255 where `image` is fully transparent (OpenAI's mask rule), else 0."""
    alpha = image.convert("RGBA").getchannel("A")
    return alpha.point(lambda value: 255 if value == 0 else 0)


def sources(
    source: bytes | None, mask: bytes | None, alpha_is_mask: bool, width: int, height: int
) -> tuple[Image.Image | None, Image.Image | None]:
    """An edit's source and region, decoded once per request and reduced to cover the canvas.

    With `mask` (or `alpha_is_mask`, dall-e-2's rule for a source with no mask) only the fully
    transparent areas of the mask (or of the source) are edited. Decoding goes through the
    process's decode budget (a 503 past it), one image at a time.
    """
    base = open_covering(source, width, height, "image") if source is not None else None
    region = None
    if mask is not None:
        region = edit_region(open_covering(mask, width, height, "mask"))
    elif base is not None and alpha_is_mask:
        region = edit_region(base)
    return base, region


def _backdrop(
    width: int, height: int, rng: random.Random, base: Image.Image | None, region: Image.Image | None
) -> Image.Image:
    if base is not None:
        # An "edit": the source image, fitted to the canvas and tinted, so the input is recognisable;
        # with a mask, only its transparent areas are tinted and the rest is the source untouched.
        fitted = ImageOps.fit(base.convert("RGB"), (width, height))
        tint = Image.new("RGB", (width, height), _colour(rng))
        tinted = Image.blend(fitted, tint, 0.35)
        if region is None:
            return tinted
        return Image.composite(tinted, fitted, ImageOps.fit(region, (width, height)))
    gradient = Image.linear_gradient("L").rotate(rng.choice((0, 45, 90, 135))).resize((width, height))
    canvas = ImageOps.colorize(gradient, _colour(rng), _colour(rng))
    draw = ImageDraw.Draw(canvas)
    for _ in range(6):  # a few shapes, so images of one request differ at a glance
        radius = rng.randrange(min(width, height) // 12, min(width, height) // 4)
        x, y = rng.randrange(width), rng.randrange(height)
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=_colour(rng), width=6)
    return canvas


def _draw_text(canvas: Image.Image, prompt: str, footer: str) -> None:
    width, height = canvas.size
    draw = ImageDraw.Draw(canvas)
    unit = max(10, min(width, height) // 28)
    banner_font = _font(unit)
    band = int(unit * 1.8)
    draw.rectangle((0, 0, width, band), fill=(200, 16, 46, 255))
    draw.text((width // 2, band // 2), BANNER, font=banner_font, fill="white", anchor="mm")

    prompt_font = _font(int(unit * 1.3))
    chars_per_line = max(8, int(width / (unit * 0.75)))
    lines = textwrap.wrap(prompt, chars_per_line)[:8]
    if len(textwrap.wrap(prompt, chars_per_line)) > 8:
        lines[-1] = lines[-1][: chars_per_line - 3] + "..."
    draw.multiline_text(
        (width // 2, height // 2),
        "\n".join(lines),
        font=prompt_font,
        fill="white",
        anchor="mm",
        align="center",
        stroke_width=max(1, unit // 8),
        stroke_fill="black",
    )
    draw.rectangle((0, height - band, width, height), fill=(0, 0, 0, 200))
    draw.text((width // 2, height - band // 2), footer, font=banner_font, fill="white", anchor="mm")


def render(
    *,
    seed: int,
    prompt: str,
    footer: str,
    width: int,
    height: int,
    output_format: str,
    compression: int | None,
    transparent: bool,
    base: Image.Image | None = None,
    region: Image.Image | None = None,
) -> bytes:
    """One labelled image as encoded bytes; the same arguments always give the same bytes.

    `base` is the decoded source of an edit (see `sources`); with `region`, only its white areas
    (the mask's fully transparent ones) are edited.
    """
    rng = random.Random(seed)
    canvas = _backdrop(width, height, rng, base, region).convert("RGBA")
    if transparent:
        # Keep the drawing, make the backdrop see-through at the edges so transparency is visible.
        fade = Image.linear_gradient("L").resize((width, height))
        canvas.putalpha(ImageOps.autocontrast(fade, cutoff=0).point(lambda v: 96 + v * 159 // 255))
    _draw_text(canvas, prompt, footer)
    return _encode(canvas, output_format, compression, transparent)


def progressive(data: bytes, stage: int, stages: int, output_format: str, transparent: bool) -> bytes:
    """Preview `stage` (0-based) of `stages` of a finished render: coarse blocks growing finer.

    The last preview is at 1/8 of the resolution, each earlier one half that (of 3: 1/32, 1/16,
    1/8): plainly unfinished, plainly the same picture, and the same bytes every time, so
    streaming UIs can be tested offline.
    """
    with Image.open(io.BytesIO(data)) as finished:
        image = finished.convert("RGBA" if transparent else "RGB")
    factor = 2 ** (3 + stages - 1 - stage)
    small = image.resize(
        (max(1, image.width // factor), max(1, image.height // factor)), Image.Resampling.BILINEAR
    )
    return _encode(small.resize(image.size, Image.Resampling.NEAREST), output_format, None, transparent)


def _encode(canvas: Image.Image, output_format: str, compression: int | None, transparent: bool) -> bytes:
    out = io.BytesIO()
    if output_format == "jpeg":
        canvas.convert("RGB").save(out, "JPEG", quality=compression if compression is not None else 90)
    elif output_format == "webp":
        image = canvas if transparent else canvas.convert("RGB")
        image.save(out, "WEBP", quality=compression if compression is not None else 90)
    else:
        (canvas if transparent else canvas.convert("RGB")).save(out, "PNG", compress_level=3)
    return out.getvalue()
