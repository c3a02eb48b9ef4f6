"""Amazon Bedrock through the hub: Stability's models by InvokeModel, every request SigV4-verified."""

from __future__ import annotations

import base64

import openai
import pytest

from tests.clouds import Clouds
from tests.fakes import Fault
from tests.fakes.bedrock import FakeBedrock
from tests.images import decode_b64


@pytest.mark.parametrize(
    ("size", "ratio"), [("1344x768", "16:9"), ("1024x1024", "1:1"), ("640x1536", "9:21")]
)
def test_stable_image_ultra_answers_the_asked_size(clouds: Clouds, size: str, ratio: str) -> None:
    result = clouds.sdk().images.generate(
        model="stable-image-ultra", prompt="a lighthouse", size=size, response_format="b64_json"
    )
    sent = clouds.bedrock.last
    assert (sent.method, sent.path) == ("POST", "/model/stability.stable-image-ultra-v1:1/invoke")
    assert sent.json == {"prompt": "a lighthouse", "aspect_ratio": ratio, "output_format": "png"}
    assert sent.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    assert clouds.bedrock.signed_regions == ["us-west-2"], "signed by botocore for the deployment's region"
    width, height = (int(v) for v in size.split("x"))
    assert result.data is not None and decode_b64(result.data[0].b64_json or "").size == (width, height)


def test_n_images_are_n_calls_with_consecutive_seeds(clouds: Clouds) -> None:
    result = clouds.sdk().images.generate(
        model="sd3.5-large",
        prompt="two ships",
        n=2,
        size="1216x832",
        response_format="b64_json",
        output_format="jpeg",
        extra_body={"seed": 7},
    )
    calls = clouds.bedrock.requests
    assert len(calls) == 2 and all(c.path == "/model/stability.sd3-5-large-v1:0/invoke" for c in calls)
    assert sorted(c.json["seed"] for c in calls if c.json) == [7, 8]
    assert result.data is not None
    images = [base64.b64decode(item.b64_json or "") for item in result.data]
    expected = [FakeBedrock.image_for("sd3.5-large", "3:2", "two ships", seed, "jpeg") for seed in (7, 8)]
    assert images == expected


def test_filtered_answers_are_content_policy_violations(clouds: Clouds) -> None:
    clouds.bedrock.enqueue(Fault.content_policy())
    with pytest.raises(openai.BadRequestError) as caught:
        clouds.sdk().images.generate(model="stable-image-core", prompt="blocked")
    assert caught.value.code == "content_policy_violation" and "Filter reason: prompt" in caught.value.message
    assert len(clouds.bedrock.requests) == 1


def test_a_failing_region_falls_over_to_another(clouds: Clouds) -> None:
    clouds.bedrock.enqueue(Fault.status(503), Fault.status(503))
    result = clouds.sdk().images.generate(model="stable-image-ultra", prompt="east", size="1024x1024")
    scopes = [r.headers["authorization"].split("/")[2] for r in clouds.bedrock.requests]
    assert scopes == ["us-west-2", "us-west-2", "us-east-1"], "retried once, then the next region"
    assert result.data is not None


def test_validation_errors_pass_through(clouds: Clouds) -> None:
    message = "Malformed input request: #/aspect_ratio: 7:3 is not a valid enum value"
    clouds.bedrock.enqueue(Fault.status(400, body={"message": message}))
    with pytest.raises(openai.BadRequestError) as caught:
        clouds.sdk().images.generate(model="stable-image-ultra", prompt="bad")
    assert isinstance(caught.value.body, dict) and caught.value.body["message"] == message
    assert len(clouds.bedrock.requests) == 1


def test_throttling_is_retried(clouds: Clouds) -> None:
    clouds.bedrock.enqueue(Fault.rate_limited())
    clouds.sdk().images.generate(model="stable-image-ultra", prompt="slowly")
    assert len(clouds.bedrock.requests) == 2 and clouds.bedrock.signed_regions == ["us-west-2"]


def _scopes(bedrock: FakeBedrock) -> list[str]:
    """The region each request was signed for, faulted ones included."""
    return [r.headers["authorization"].split("/")[2] for r in bedrock.requests]


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (424, "ModelErrorException"),
        (408, "ModelTimeoutException"),
        (503, "ServiceUnavailableException"),
        (429, "ThrottlingException"),
    ],
)
def test_model_errors_and_throttling_are_retried_on_the_same_region(
    clouds: Clouds, status: int, kind: str
) -> None:
    clouds.bedrock.enqueue(Fault.status(status))
    result = clouds.sdk().images.generate(
        model="stable-image-ultra", prompt="once more", size="1024x1024", response_format="b64_json"
    )
    assert _scopes(clouds.bedrock) == ["us-west-2", "us-west-2"], f"{kind}: retried, not fallen over"
    assert result.data is not None and decode_b64(result.data[0].b64_json or "").size == (1024, 1024)


def test_a_model_error_on_every_try_is_a_502_after_the_other_region(clouds: Clouds) -> None:
    clouds.bedrock.enqueue(*[Fault.status(424, body={"message": "Model failed"})] * 4)
    with pytest.raises(openai.InternalServerError) as caught:
        clouds.sdk().images.generate(model="stable-image-ultra", prompt="broken")
    assert caught.value.status_code == 502 and caught.value.code == "upstream_error"
    assert _scopes(clouds.bedrock) == ["us-west-2", "us-west-2", "us-east-1", "us-east-1"]


def test_access_denied_falls_over_to_the_next_region_at_once(clouds: Clouds) -> None:
    clouds.bedrock.enqueue(Fault.status(403, body={"message": "You don't have access to the model."}))
    result = clouds.sdk().images.generate(model="stable-image-ultra", prompt="elsewhere")
    assert _scopes(clouds.bedrock) == ["us-west-2", "us-east-1"], "a 403 is not retried on the same region"
    assert result.data is not None
