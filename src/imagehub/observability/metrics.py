"""Prometheus metrics: what an operator graphs and alerts on.

With several workers (`imagehub serve --workers N`), `serve` sets PROMETHEUS_MULTIPROC_DIR before
the workers start, and /metrics aggregates every worker's numbers.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("imagehub_requests_total", "HTTP requests answered.", ["route", "status"])
LATENCY = Histogram(
    "imagehub_request_duration_seconds",
    "Time to answer a request, end to end.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
UPSTREAM_CALLS = Counter(
    "imagehub_upstream_calls_total", "Calls to upstream providers.", ["provider", "outcome"]
)
UPSTREAM_ERRORS = Counter(
    "imagehub_upstream_errors_total", "Failed upstream calls by kind.", ["provider", "kind"]
)
IMAGES = Counter("imagehub_images_served_total", "Images delivered to clients.", ["model", "provider"])
ENGINE_LOAD = Gauge(
    "imagehub_engine_load",
    "Requests in an engine as the hub ranks it now: other hubs' at the last /readyz poll, plus its own.",
    ["deployment"],
    multiprocess_mode="max",
)
ENGINE_UP = Gauge(
    "imagehub_engine_up", "1 while an engine answers /readyz ready.", ["deployment"], multiprocess_mode="min"
)
BYTES_STORED = Counter("imagehub_bytes_stored_total", "Bytes written to the image store.")
ANSWER_BYTES = Gauge(
    "imagehub_answer_bytes_held",
    "Bytes of upstream answers (spooled base64) this process holds now, against IMAGEHUB_ANSWER_BUDGET_MB.",
    multiprocess_mode="livesum",
)
ANSWER_MEMORY = Gauge(
    "imagehub_answer_bytes_in_memory",
    "Of those, bytes kept in memory (IMAGEHUB_ANSWER_MEMORY_MB); the rest wait in temporary files.",
    multiprocess_mode="livesum",
)
ANSWER_BYTES_PEAK = Gauge(
    "imagehub_answer_bytes_peak",
    "The most answer bytes this process has held at once.",
    multiprocess_mode="max",
)
ANSWER_WAITING = Gauge(
    "imagehub_answer_budget_waiting",
    "Upstream reads paused until answer bytes are given back (back-pressure).",
    multiprocess_mode="livesum",
)
ANSWER_REFUSED = Counter(
    "imagehub_answer_budget_refusals_total", "Requests refused with 503 because the answer budget was spent."
)
JOBS_QUEUED = Gauge(
    "imagehub_jobs_queued",
    "Asynchronous jobs (and batch lines) waiting to run, cluster-wide.",
    multiprocess_mode="max",
)
JOBS_RUNNING = Gauge(
    "imagehub_jobs_in_progress",
    "Jobs claimed by some hub and running, cluster-wide.",
    multiprocess_mode="max",
)
JOB_AGE = Gauge(
    "imagehub_job_oldest_queued_seconds", "Age of the oldest job still queued.", multiprocess_mode="max"
)
JOBS_ENDED = Counter("imagehub_jobs_ended_total", "Jobs this process ran to an end.", ["status"])
WEBHOOK_DELIVERIES = Counter(
    "imagehub_webhook_deliveries_total", "Webhook delivery attempts by outcome.", ["outcome"]
)
SWEPT = Counter("imagehub_store_swept_total", "Expired objects (segments, files) this process deleted.")


def render() -> tuple[bytes, str]:
    """The exposition text, aggregated across workers when running multi-process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
