"""How much one hub process can hold, and how many processes to run: decided once at start.

An image call keeps its client's connection and an upstream connection open for seconds to a
minute, so what caps a hub is open file descriptors, not requests per second: two per request
in flight. Most systems start processes with a soft limit of 1,024 (about 500 requests) under
a far higher hard limit, so the hub raises its soft limit to the hard one before it listens.
"""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from imagehub.upstream.deployments import Deployment
from imagehub.upstream.slots import worker_share

DESCRIPTORS_PER_REQUEST = 2  # the client's socket and the upstream's
RESERVED_DESCRIPTORS = 128  # listening socket, database, journal, segments, Redis, logs, imports


@dataclass(frozen=True, slots=True)
class OpenFiles:
    before: int
    now: int
    hard: int


def _nr_open() -> int:
    try:
        with open("/proc/sys/fs/nr_open") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return 1 << 20


def raise_open_file_limit() -> OpenFiles:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _nr_open() if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        # e.g. macOS caps the soft limit below an infinite hard one: then keep what we have
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return OpenFiles(before=soft, now=now, hard=hard)


def requests_held(open_files: int) -> int:
    """Requests one process can hold in flight within its descriptor limit."""
    return max(0, (open_files - RESERVED_DESCRIPTORS) // DESCRIPTORS_PER_REQUEST)


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, which containers narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def auto_workers(environ: Mapping[str, str], deployments: Iterable[Deployment]) -> tuple[int, str]:
    """The default worker count, and why.

    One per CPU when the processes can share what must be shared: key limits live in Redis
    (without REDIS_URL each worker would enforce a key's limits alone, multiplying them), and
    no local engine is configured (each worker would load its own copy of the weights).
    """
    cpus = cpu_count()
    if cpus == 1:
        return 1, "auto: one CPU"
    if not (environ.get("REDIS_URL") or environ.get("IMAGEHUB_REDIS_URL")):
        return 1, "auto: no REDIS_URL to share key limits across workers"
    if any(deployment.provider == "local" for deployment in deployments):
        return 1, "auto: a local engine is configured, and each worker would load its own weights"
    return cpus, "auto: one per CPU"


def describe_limits(deployments: Iterable[Deployment], workers: int) -> str:
    """The deployment limits as each worker applies them, for the start message."""
    parts = [
        f"{d.name} {worker_share(d.max_concurrent, workers)} "
        f"(waits up to {d.queue_timeout_seconds:g}s, then 503)"
        for d in deployments
        if d.max_concurrent is not None
    ]
    return ", ".join(parts) if parts else "none (set IMAGEHUB_DEPLOYMENT_<NAME>_MAX_CONCURRENT)"
