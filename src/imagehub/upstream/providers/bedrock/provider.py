"""Amazon Bedrock's InvokeModel for Stability AI's image models.

The body is Stability's (prompt, aspect_ratio, output_format, seed); the answer is
`{seeds, finish_reasons, images}` with one image per call, so `n` images are `n` concurrent
calls. Bedrock's 424 (ModelErrorException: the model itself failed) is retried like a 5xx.
A non-null finish reason "Filter reason: …" is Bedrock's content filter: the client's
400 `content_policy_violation`; "Inference error" is worth another try. Bedrock's model ids
come from the catalog's platforms.toml unless the deployment's `upstream_names` says otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import orjson
from yarl import URL

from imagehub.catalog.platforms import platform
from imagehub.payloads.jsonstream import SPOOL_ABOVE_BYTES
from imagehub.payloads.spool import Spool
from imagehub.schema.images import GeneratedImage, GenerationResult, ImageJob
from imagehub.upstream.deployments import ConfigError, Deployment
from imagehub.upstream.providers.base import ListedModel
from imagehub.upstream.providers.bedrock.signing import Signer
from imagehub.upstream.providers.errors import ClientFault, DeploymentFault, Retryable
from imagehub.upstream.providers.http import UpstreamClient, UpstreamErrorInfo


def parse_bedrock_error(status: int, payload: Any) -> UpstreamErrorInfo:
    """Bedrock answers `{"message": …}`; some gateways add `__type` (ValidationException …)."""
    if not isinstance(payload, dict):
        return UpstreamErrorInfo(f"HTTP {status}")
    message = payload.get("message") or payload.get("Message") or f"HTTP {status}"
    kind = str(payload.get("__type") or "").rpartition("#")[2].partition(":")[0]
    return UpstreamErrorInfo(str(message), kind.lower() or None)


def bedrock_base(region: str) -> str:
    return f"https://bedrock-runtime.{region}.amazonaws.com"


def bedrock_control_base(region: str) -> str:
    """The control plane (ListFoundationModels), beside the runtime that InvokeModel uses."""
    return f"https://bedrock.{region}.amazonaws.com"


#: Statuses worth another try: throttling (429), the model's own failure (424, ModelErrorException),
#: its timeout (408, ModelTimeoutException); 5xx are retried for every provider.
RETRY_STATUSES = frozenset({408, 424, 429})


class BedrockProvider:
    kind = "bedrock"

    @classmethod
    def from_deployment(cls, deployment: Deployment, environ: Mapping[str, str]) -> BedrockProvider:
        region = bedrock_region(deployment, environ)
        if not region:
            raise ConfigError(f"deployment {deployment.name!r}: Bedrock needs region (or AWS_REGION)")
        control = deployment.base_url or environ.get("AWS_ENDPOINT_URL_BEDROCK") or None
        return cls(deployment, region, control)

    def __init__(self, deployment: Deployment, region: str, control_url: str | None = None) -> None:
        self.name = deployment.name
        self._base = (deployment.base_url or bedrock_base(region)).rstrip("/")
        self._control = (control_url or bedrock_control_base(region)).rstrip("/")
        self._names = dict(deployment.upstream_names)
        self._platform = platform("bedrock")
        self._signer = Signer(region, f"deployment {deployment.name!r}")
        self._client = UpstreamClient(
            label=f"deployment {deployment.name!r}",
            timeout_seconds=deployment.timeout_seconds,
            max_connections=deployment.max_connections,
            retry_statuses=RETRY_STATUSES,
        )

    def listed_id(self, model: str) -> str:
        return self._names.get(model) or self._platform.upstream_id(model)

    def model_id(self, job: ImageJob) -> str:
        return self.listed_id(job.spec.name)

    def list_url(self) -> str:
        return f"{self._control}/foundation-models?byOutputModality=IMAGE"

    async def list_models(self) -> list[ListedModel]:
        """ListFoundationModels (image output only), SigV4-signed like InvokeModel."""
        url = self.list_url()
        headers = await self._signer.headers(url, b"", {"Accept": "application/json"}, method="GET")
        payload = await self._client.request_json(
            "GET", URL(url, encoded=True), headers=headers, parse_error=parse_bedrock_error
        )
        summaries = payload.get("modelSummaries") if isinstance(payload, dict) else None
        listed = []
        for entry in summaries or []:
            if isinstance(entry, dict) and entry.get("modelId"):
                lifecycle = entry.get("modelLifecycle") or {}
                end = _day(lifecycle.get("endOfLifeTime")) if isinstance(lifecycle, dict) else None
                image = "IMAGE" in (entry.get("outputModalities") or [])
                listed.append(ListedModel(str(entry["modelId"]), end, image))
        return listed

    def _body(self, job: ImageJob, index: int) -> bytes:
        body: dict[str, Any] = {
            "prompt": job.prompt,
            "aspect_ratio": job.spec.aspect_ratios[job.size],
            "output_format": job.output_format or "png",
        }
        if job.seed is not None:
            body["seed"] = job.seed + index
        return orjson.dumps(body)

    async def _invoke(self, job: ImageJob, index: int) -> GeneratedImage:
        # The model id has a ":" that must reach AWS percent-encoded, as botocore sends it.
        url = f"{self._base}/model/{quote(self.model_id(job), safe='')}/invoke"
        body = self._body(job, index)
        plain = {"Content-Type": "application/json", "Accept": "application/json"}
        headers = await self._signer.headers(url, body, plain)
        payload = await self._client.request_json(
            "POST",
            URL(url, encoded=True),
            headers=headers,
            content=body,
            parse_error=parse_bedrock_error,
            spool_above=SPOOL_ABOVE_BYTES,
        )
        return self._image(payload, job)

    def _image(self, payload: Any, job: ImageJob) -> GeneratedImage:
        reasons = [r for r in (payload.get("finish_reasons") or []) if r] if isinstance(payload, dict) else []
        for reason in reasons:
            if str(reason).startswith("Filter reason"):
                raise ClientFault(
                    f"The request was rejected by Bedrock's content filter ({reason}).",
                    code="content_policy_violation",
                )
        images = payload.get("images") if isinstance(payload, dict) else None
        if reasons or not images or not isinstance(images[0], (str, Spool)):
            detail = ", ".join(map(str, reasons)) or "no image"
            raise Retryable(
                f"deployment {self.name!r} answered without an image ({detail}).",
                status=502,
                code="upstream_bad_response",
            )
        if isinstance(images[0], Spool):
            return GeneratedImage(format=job.output_format or "png", spool=images[0])
        return GeneratedImage(format=job.output_format or "png", b64=images[0])

    async def generate(self, job: ImageJob) -> GenerationResult:
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._invoke(job, index)) for index in range(job.n)]
        except* (ClientFault, Retryable, DeploymentFault) as failures:
            raise failures.exceptions[0] from None
        # `kind`: priced by Bedrock's own table where a model has one (stable-image-ultra).
        return GenerationResult(images=[task.result() for task in tasks], provider=self.name, kind=self.kind)

    async def close(self) -> None:
        await self._client.close()


def bedrock_region(deployment: Deployment, environ: Mapping[str, str]) -> str | None:
    """The deployment's region, else the AWS chain's variables (and AWS_REGION as its key)."""
    return (
        deployment.region
        or environ.get("AWS_REGION")
        or environ.get("AWS_DEFAULT_REGION")
        or deployment.credential(environ)
        or None
    )


def _day(value: Any) -> date | None:
    """A Bedrock timestamp (ISO 8601 in JSON, or epoch seconds) as a date."""
    try:
        if isinstance(value, str) and value:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC).date()
    except (ValueError, OverflowError, OSError):
        return None
    return None
