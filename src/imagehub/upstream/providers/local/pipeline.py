"""The diffusers side of the local engine: load one model's weights and run one batch.

Text-to-image and image-to-image pipelines share one set of weights (`from_pipe`), so an edit
costs no extra memory. Weights come from a folder or from the Hugging Face cache, never from the
network: `imagehub models pull` is the only thing that downloads. Everything here blocks; the
batcher calls `run` in its worker thread. This is the only module that imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import diffusers
import torch
import transformers
from PIL import Image

from imagehub.upstream.deployments import ConfigError, Deployment


@dataclass(frozen=True, slots=True)
class BatchKey:
    """What requests must share to run in one pipeline call."""

    edit: bool
    width: int
    height: int
    steps: int


#: Called from the engine's thread with (image index in the request, preview index, preview).
PreviewSink = Callable[[int, int, Image.Image], None]

# The cheap preview decoder: Stable Diffusion's four latent channels map almost linearly to RGB.
# These are the widely used least-squares "latent to RGB" factors for SD 1.x/2.x latents (SDXL's
# are close enough for a preview); a matrix product per step instead of a VAE decode.
LATENT_RGB_FACTORS = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)


@dataclass(frozen=True, slots=True)
class EngineRequest:
    """One client request inside a batch: its prompt, one seed per image, and a source to edit.

    `previews` are the denoising steps after which `on_preview` gets a preview of each image.
    """

    prompt: str
    seeds: tuple[int, ...]
    source: Image.Image | None = None
    previews: tuple[int, ...] = ()
    on_preview: PreviewSink | None = None


def latent_preview(latent: Any) -> Image.Image:
    """One image's latents (channels, h, w) as a small RGB picture, without the VAE."""
    factors = torch.tensor(LATENT_RGB_FACTORS, dtype=torch.float32)
    channels = latent.float().cpu()[: len(LATENT_RGB_FACTORS)]
    rgb = torch.einsum("chw,cr->hwr", channels, factors[: channels.shape[0]])
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(pixels, "RGB")


def _preview_callback(requests: Sequence[EngineRequest]) -> Any:
    """A step callback that previews only the rows whose requests asked, at their own steps."""
    rows: list[tuple[int, EngineRequest, int]] = []
    start = 0
    for request in requests:
        for image_index in range(len(request.seeds)):
            if request.previews and request.on_preview is not None:
                rows.append((start + image_index, request, image_index))
        start += len(request.seeds)

    def on_step_end(_pipe: Any, step: int, _timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        latents = tensors["latents"]
        for row, request, image_index in rows:
            if step in request.previews and request.on_preview is not None:
                request.on_preview(image_index, request.previews.index(step), latent_preview(latents[row]))
        return tensors

    return on_step_end if rows else None


class DiffusionEngine:
    """One loaded model; `run` is a blocking call for the batcher's single worker thread."""

    def __init__(self, text2img: Any, img2img: Any, *, guidance: float, strength: float) -> None:
        self.text2img = text2img
        self.img2img = img2img
        self.guidance = guidance
        self.strength = strength

    def run(self, key: BatchKey, requests: Sequence[EngineRequest]) -> list[list[Image.Image]]:
        """Generate every request's images in one call, then split them back per request.

        Each image has its own seeded CPU generator, so its pixels depend on its seed alone, not
        on which requests it happened to share the call with, nor on the device.
        """
        prompts = [request.prompt for request in requests for _ in request.seeds]
        generators = [torch.Generator("cpu").manual_seed(seed) for r in requests for seed in r.seeds]
        common: dict[str, Any] = {
            "prompt": prompts,
            "guidance_scale": self.guidance,
            "generator": generators,
            "output_type": "pil",
        }
        callback = _preview_callback(requests)
        if callback is not None:  # a batch where nobody asked for previews runs exactly as before
            common["callback_on_step_end"] = callback
            common["callback_on_step_end_tensor_inputs"] = ["latents"]
        with torch.inference_mode():
            if key.edit:
                sources = [request.source for request in requests for _ in request.seeds]
                output = self.img2img(
                    image=sources,
                    strength=self.strength,
                    # img2img runs only strength * steps of its schedule; ask for enough that the
                    # edit gets the preset's number of denoising steps.
                    num_inference_steps=math.ceil(key.steps / self.strength),
                    **common,
                )
            else:
                output = self.text2img(
                    height=key.height, width=key.width, num_inference_steps=key.steps, **common
                )
        images: list[Image.Image] = list(output.images)
        split, start = [], 0
        for request in requests:
            split.append(images[start : start + len(request.seeds)])
            start += len(request.seeds)
        return split

    def warm_up(self, width: int, height: int) -> None:
        self.run(BatchKey(edit=False, width=width, height=height, steps=1), [EngineRequest("warm up", (0,))])


def _source(deployment: Deployment) -> str:
    if deployment.path is not None:
        folder = Path(deployment.path).expanduser()
        if not (folder / "model_index.json").is_file():
            raise ConfigError(
                f"deployment {deployment.name!r}: {folder} is not a diffusers pipeline folder "
                "(no model_index.json)"
            )
        return str(folder)
    assert deployment.model_id is not None
    return deployment.model_id


def _dtype(deployment: Deployment) -> Any:
    if deployment.device == "cpu" and deployment.dtype == "float16":
        raise ConfigError(
            f"deployment {deployment.name!r}: float16 does not run on the CPU; use float32 or bfloat16"
        )
    return getattr(torch, deployment.dtype)


def _scheduler(deployment: Deployment, pipeline: Any) -> Any:
    name = deployment.scheduler
    cls: Any = getattr(diffusers, name or "", None)
    if not isinstance(cls, type) or not issubclass(cls, diffusers.SchedulerMixin):
        raise ConfigError(f"deployment {deployment.name!r}: {name!r} is not a diffusers scheduler")
    return cast(Any, cls).from_config(pipeline.scheduler.config)


def load_engine(deployment: Deployment) -> DiffusionEngine:
    """Load the deployment's weights onto its device, or raise ConfigError saying what is wrong."""
    source = _source(deployment)
    dtype = _dtype(deployment)
    if deployment.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"deployment {deployment.name!r}: device {deployment.device} but no CUDA device")
    # A server's log is no place for progress bars.
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    try:
        text2img = diffusers.AutoPipelineForText2Image.from_pretrained(
            source, dtype=dtype, variant=deployment.variant, local_files_only=True
        )
    except (OSError, ValueError) as exc:
        hint = (
            f" Fetch it first with: imagehub models pull {deployment.model_id}" if deployment.model_id else ""
        )
        raise ConfigError(f"deployment {deployment.name!r}: cannot load {source}: {exc}.{hint}") from exc
    if deployment.scheduler:
        text2img.scheduler = _scheduler(deployment, text2img)
    text2img.to(deployment.device)
    text2img.set_progress_bar_config(disable=True)
    img2img = diffusers.AutoPipelineForImage2Image.from_pipe(text2img)
    img2img.set_progress_bar_config(disable=True)
    return DiffusionEngine(text2img, img2img, guidance=deployment.guidance, strength=deployment.strength)
