"""The diffusion engine with every pipeline call timed: batch size, seconds per step, images.

Imported only once weights are to be loaded, since it builds on the torch side of the engine.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from PIL import Image

from imagehub.engine.metrics import EngineMetrics
from imagehub.upstream.providers.local.pipeline import BatchKey, DiffusionEngine, EngineRequest


class MeteredEngine(DiffusionEngine):
    """The same pipelines, the same calls; each call's size and time go to the metrics."""

    def __init__(self, engine: DiffusionEngine, metrics: EngineMetrics) -> None:
        super().__init__(engine.text2img, engine.img2img, guidance=engine.guidance, strength=engine.strength)
        self._metrics = metrics

    def run(self, key: BatchKey, requests: Sequence[EngineRequest]) -> list[list[Image.Image]]:
        started = time.perf_counter()
        images = super().run(key, requests)
        self._metrics.record_batch(
            sum(len(r.seeds) for r in requests), key.steps, time.perf_counter() - started
        )
        return images
