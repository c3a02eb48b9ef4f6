"""A job's end as a webhook event: image.job.succeeded or image.job.failed, for its key.

The event carries the job object without its result (images can be megabytes of base64); the
receiver reads the result with GET /v1/images/jobs/{id}. Cancelled jobs and batch lines send no
job event (a batch sends batch.completed once).
"""

from __future__ import annotations

from imagehub.jobs.models import FAILED, SUCCEEDED, ImageJobRow
from imagehub.jobs.views import job_object
from imagehub.webhooks.sender import WebhookSender
from imagehub.webhooks.store import WebhookStore


class JobEvents:
    def __init__(self, store: WebhookStore, sender: WebhookSender) -> None:
        self.store = store
        self.sender = sender

    async def job_ended(self, row: ImageJobRow) -> None:
        if row.batch_id is not None or row.status not in (SUCCEEDED, FAILED):
            return
        data = job_object(row, "")
        data.pop("result", None)
        if await self.store.emit(row.key_id, f"image.job.{row.status}", data):
            self.sender.wake()
