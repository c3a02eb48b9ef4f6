"""A fake Amazon Bedrock runtime: InvokeModel for Stability's image models, SigV4 verified by botocore.

`POST /model/{modelId}/invoke` with Stability's body (prompt, aspect_ratio, output_format,
seed) answers `{seeds, finish_reasons, images}` with one image. `GET /foundation-models` is
the control plane's ListFoundationModels (`modelSummaries`, filtered by `byOutputModality`),
served here beside the runtime. Every request's SigV4 signature is recomputed with botocore's
own signer from the test credentials and the headers the request says it signed; a wrong key,
region, service, body or token is refused with 403 as AWS does. Errors are Bedrock's
`{"message": …}` with `x-amzn-ErrorType`.
"""

from __future__ import annotations

import base64
import hmac
import random
from typing import Any

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.fakes.server import FAULT, RECORDED, FakeServer, RecordedRequest, image_bytes, json_response

ACCESS_KEY = "AKIAFAKEIMAGEHUB0001"
SECRET_KEY = "fake/secret/key/for/imagehub/tests/0000000"
SESSION_TOKEN = "fake-session-token"
MODELS = {
    "stability.stable-image-ultra-v1:1": "stable-image-ultra",
    "stability.stable-image-core-v1:1": "stable-image-core",
    "stability.sd3-5-large-v1:0": "sd3.5-large",
}
#: Stability's output pixels per aspect ratio (about one megapixel).
SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "21:9": (1536, 640),
    "9:21": (640, 1536),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "5:4": (1088, 896),
    "4:5": (896, 1088),
}
#: ListFoundationModels in December 2026: (modelId, output modalities, lifecycle status, EOL).
FOUNDATION_MODELS: tuple[tuple[str, tuple[str, ...], str, str | None], ...] = (
    ("stability.stable-image-ultra-v1:1", ("IMAGE",), "ACTIVE", None),
    ("stability.stable-image-core-v1:1", ("IMAGE",), "ACTIVE", None),
    ("stability.sd3-5-large-v1:0", ("IMAGE",), "ACTIVE", None),
    ("stability.stable-image-remove-background-v1:0", ("IMAGE",), "ACTIVE", None),
    ("stability.stable-fast-upscale-v1:0", ("IMAGE",), "ACTIVE", None),
    ("anthropic.claude-sonnet-4-6", ("TEXT",), "ACTIVE", None),
)
_ERROR_TYPES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


def bedrock_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    kind = _ERROR_TYPES.get(status, "InternalServerException")
    return json_response(
        {"message": message}, status=status, headers={"x-amzn-ErrorType": kind, **(headers or {})}
    )


class FakeBedrock(FakeServer):
    """Bedrock runtime for the regions in `regions`, accepting only the test credentials."""

    def __init__(self, regions: tuple[str, ...] = ("us-west-2", "us-east-1")) -> None:
        super().__init__()
        self.regions = regions
        self.signed_regions: list[str] = []  # the region of each correctly signed request
        self.foundation_models = list(FOUNDATION_MODELS)

    def reset(self) -> None:
        super().reset()
        self.signed_regions.clear()

    @staticmethod
    def image_for(model: str, ratio: str, prompt: str, seed: int, fmt: str = "png") -> bytes:
        width, height = SIZES[ratio]
        return image_bytes(width, height, seed=f"bedrock|{model}|{ratio}|{prompt}|{seed}", fmt=fmt)

    def error_response(
        self, status: int, message: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        return bedrock_error(status, message or f"HTTP {status}", headers)

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/model/{model_id}/invoke", self._invoke)
        app.router.add_get("/foundation-models", self._foundation_models)
        app.router.add_route("*", "/{tail:.*}", self._unknown)

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        return bedrock_error(404, "UnknownOperationException")

    def _signature_problem(self, request: web.Request, recorded: RecordedRequest) -> str | None:
        """Recompute the SigV4 signature with botocore from what the request says it signed."""
        header = recorded.headers.get("authorization", "")
        algorithm, _, rest = header.partition(" ")
        parts = dict(item.strip().split("=", 1) for item in rest.split(",") if "=" in item)
        scope = parts.get("Credential", "").split("/")
        if algorithm != "AWS4-HMAC-SHA256" or len(scope) != 5:
            return "Missing Authentication Token"
        access_key, _day, region, service, _ = scope
        if access_key != ACCESS_KEY:
            return "The security token included in the request is invalid."
        if service != "bedrock" or region not in self.regions:
            return f"Credential should be scoped to a valid region and service, not {region}/{service}."
        if recorded.headers.get("x-amz-security-token") != SESSION_TOKEN:
            return "The security token included in the request is invalid."
        signed = parts.get("SignedHeaders", "").split(";")
        if "host" not in signed or "x-amz-date" not in signed or "x-amz-security-token" not in signed:
            return "Signed headers must include host, x-amz-date and x-amz-security-token."
        url = f"http://{request.host}{request.raw_path}"
        headers = {
            name: recorded.headers[name] for name in signed if name != "host" and name in recorded.headers
        }
        aws = AWSRequest(method=request.method, url=url, data=recorded.raw, headers=headers)
        aws.context["timestamp"] = recorded.headers["x-amz-date"]
        signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), "bedrock", region)
        expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
        if not hmac.compare_digest(expected, parts.get("Signature", "")):
            return (
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method."
            )
        self.signed_regions.append(region)
        return None

    async def _foundation_models(self, request: web.Request) -> web.StreamResponse:
        problem = self._signature_problem(request, request[RECORDED])
        if problem is not None:
            return bedrock_error(403, problem)
        wanted = request.query.get("byOutputModality")
        summaries = []
        for model_id, outputs, status, end in self.foundation_models:
            if wanted and wanted not in outputs:
                continue
            lifecycle: dict[str, Any] = {"status": status}
            if end is not None:
                lifecycle["endOfLifeTime"] = f"{end}T00:00:00Z"
            summaries.append(
                {
                    "modelArn": f"arn:aws:bedrock:us-west-2::foundation-model/{model_id}",
                    "modelId": model_id,
                    "providerName": model_id.partition(".")[0].title(),
                    "inputModalities": ["TEXT"],
                    "outputModalities": list(outputs),
                    "inferenceTypesSupported": ["ON_DEMAND"],
                    "modelLifecycle": lifecycle,
                }
            )
        return json_response({"modelSummaries": summaries})

    async def _invoke(self, request: web.Request) -> web.StreamResponse:
        recorded: RecordedRequest = request[RECORDED]
        problem = self._signature_problem(request, recorded)
        if problem is not None:
            return bedrock_error(403, problem)
        model = MODELS.get(request.match_info["model_id"])
        if model is None:
            return bedrock_error(400, "The provided model identifier is invalid.")
        body: Any = recorded.json
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
            return bedrock_error(400, "Malformed input request: required key [prompt] not found")
        ratio = str(body.get("aspect_ratio", "1:1"))
        fmt = str(body.get("output_format", "png"))
        if ratio not in SIZES or fmt not in ("png", "jpeg"):
            return bedrock_error(400, f"Malformed input request: unsupported value {ratio!r} / {fmt!r}")
        fault = request.get(FAULT)
        if fault is not None and fault.kind == "content_policy":
            return json_response({"finish_reasons": ["Filter reason: prompt"]})
        seed = int(body.get("seed", random.randrange(4_294_967_295)))
        data = self.image_for(model, ratio, body["prompt"], seed, fmt)
        return json_response(
            {"seeds": [seed], "finish_reasons": [None], "images": [base64.b64encode(data).decode("ascii")]}
        )


__all__ = ["ACCESS_KEY", "SECRET_KEY", "SESSION_TOKEN", "SIZES", "FakeBedrock"]
