"""The engine's Prometheus metrics, in a registry of its own (the hub's names stay the hub's).

What sizes a GPU tier: how many requests wait (queue depth), how full the pipeline calls are
(batch sizes), how fast it draws (images, and seconds per denoising step), and requests in the
engine, which is also what every answer's load header says.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class EngineMetrics:
    """One engine's numbers; `waiting` and `in_engine` are read when scraped."""

    def __init__(self, waiting: Callable[[], float], in_engine: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        queue = Gauge(
            "imagehub_engine_queue_depth", "Requests waiting for a pipeline call.", registry=self.registry
        )
        queue.set_function(waiting)
        requests = Gauge(
            "imagehub_engine_requests_in_flight",
            "Requests in the engine, waiting or drawing (the X-Imagehub-Engine-Load header).",
            registry=self.registry,
        )
        requests.set_function(in_engine)
        self.batch_images = Histogram(
            "imagehub_engine_batch_images",
            "Images per pipeline call (dynamic batching merges requests).",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.step_seconds = Histogram(
            "imagehub_engine_step_seconds",
            "Seconds per denoising step of a pipeline call (the call's time over its steps).",
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.images = Counter(
            "imagehub_engine_images_total", "Images drawn; rate() of it is images/s.", registry=self.registry
        )
        self.refused = Counter(
            "imagehub_engine_overloaded_total",
            "Requests refused with 503 engine_overloaded (queue full).",
            registry=self.registry,
        )

    def record_batch(self, images: int, steps: int, seconds: float) -> None:
        self.batch_images.observe(images)
        self.step_seconds.observe(seconds / max(1, steps))
        self.images.inc(images)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
