"""What every vendor fake shares: its auth check, jobs that need several polls, and result URLs.

A job is finished after `polls_needed` status reads; `cancelled` records the jobs the hub
cancelled. Result images are served at GET /results/<name>; `expire_results` makes the next so
many downloads answer 403 as an expired signed URL does (S3, OSS and CDN links all do).
"""

from __future__ import annotations

import io
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

from tests.fakes.server import FAULT, RECORDED, FakeServer, Fault, FileStore, image_bytes, json_response


@dataclass
class Job:
    """One submitted job: what to draw, how many polls remain, and how it ends."""

    id: str
    width: int
    height: int
    prompt: str
    count: int = 1
    fmt: str = "png"
    polls_left: int = 0
    moderated: bool = False
    cancelled: bool = False
    urls: list[str] = field(default_factory=list)


class VendorFake(FakeServer):
    """A vendor's API: subclasses add routes and say how they authenticate."""

    auth_header = "authorization"
    vendor = "vendor"

    def __init__(self, api_key: str = "fake-vendor-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.files = FileStore()
        self.jobs: dict[str, Job] = {}
        self.polls_needed = 1
        self.expire_results = 0
        #: Where result URLs point; None: this fake. A test sets another origin to see it refused.
        self.result_base: str | None = None
        self._ids = itertools.count(1)
        self._state = threading.Lock()

    # ---- test-facing -----------------------------------------------------------------------------

    def reset(self) -> None:
        super().reset()
        with self._state:
            self.jobs.clear()
            self.polls_needed = 1
            self.expire_results = 0
            self.result_base = None

    def finish_all(self) -> None:
        """Let every job in flight be done at its next poll."""
        with self._state:
            for job in self.jobs.values():
                job.polls_left = min(job.polls_left, 1)

    @property
    def cancelled(self) -> list[str]:
        with self._state:
            return [job.id for job in self.jobs.values() if job.cancelled]

    def image_for(self, width: int, height: int, prompt: str, index: int = 0, fmt: str = "png") -> bytes:
        return image_bytes(width, height, seed=f"{self.vendor}|{width}x{height}|{prompt}|{index}", fmt=fmt)

    # ---- for subclasses --------------------------------------------------------------------------

    def auth_value(self) -> str:
        return f"Bearer {self.api_key}"

    def authorized(self, request: web.Request) -> web.Response | None:
        """None when the vendor's own auth header carries the key; else the vendor's 401."""
        if request[RECORDED].headers.get(self.auth_header) != self.auth_value():
            return self.error_response(401, "invalid credentials")
        return None

    def fault(self, request: web.Request) -> Fault | None:
        return request.get(FAULT)

    def new_job(self, request: web.Request, width: int, height: int, prompt: str, **kw: Any) -> Job:
        fault = self.fault(request)
        job = Job(
            f"job-{next(self._ids)}",
            width,
            height,
            prompt,
            polls_left=self.polls_needed,
            moderated=fault is not None and fault.kind == "content_policy",
            **kw,
        )
        with self._state:
            self.jobs[job.id] = job
        return job

    def job(self, job_id: str) -> Job | None:
        with self._state:
            return self.jobs.get(job_id)

    def poll(self, job: Job) -> bool:
        """Count one status read; True once the job is finished."""
        with self._state:
            if job.polls_left > 0:
                job.polls_left -= 1
            return job.polls_left == 0

    def publish(self, job: Job) -> list[str]:
        """Put the job's images on the file server; their URLs, made once per job."""
        if not job.urls:
            for index in range(job.count):
                name = f"{job.id}-{index}.{job.fmt}"
                data = self.image_for(job.width, job.height, job.prompt, index, job.fmt)
                self.files.put(name, data, f"image/{job.fmt}")
                job.urls.append(f"{self.result_base or self.url}/results/{name}")
        return job.urls

    def add_results_route(self, app: web.Application) -> None:
        app.router.add_get("/results/{name}", self._result)

    async def _result(self, request: web.Request) -> web.StreamResponse:
        with self._state:
            expired = self.expire_results > 0
            self.expire_results -= 1 if expired else 0
        if expired:
            body = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
            return web.Response(status=403, text=body, content_type="application/xml")
        found = self.files.get(request.match_info["name"])
        if found is None:
            return web.Response(status=404)
        data, content_type = found
        return web.Response(body=data, content_type=content_type)

    def uploaded_image(self, request: web.Request, name: str) -> tuple[Image.Image | None, str | None]:
        """The multipart file `name`, decoded: (image, None), or (None, why it is refused)."""
        files = request[RECORDED].files(name)
        if len(files) != 1:
            return None, f"{name}: exactly one file expected"
        try:
            with Image.open(io.BytesIO(files[0].data)) as image:
                image.load()
                return image.copy(), None
        except (OSError, SyntaxError, ValueError):
            return None, f"{name}: not an image"

    def error_response(
        self, status: int, message: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        return json_response({"detail": message or f"HTTP {status}"}, status=status, headers=headers)
