"""Azure OpenAI through the hub: both address forms, api-key and Entra ID, streaming, its refusals."""

from __future__ import annotations

import base64

import openai
import pytest

from tests.clouds import Clouds
from tests.fakes import Fault
from tests.images import decode_b64, tiny_png


def test_gpt_image_2_on_the_v1_api_with_an_api_key(clouds: Clouds) -> None:
    result = clouds.sdk().images.generate(
        model="gpt-image-2", prompt="a harbour", size="1536x1024", quality="high"
    )
    sent = clouds.azure.last
    assert (sent.method, sent.path, sent.query) == ("POST", "/openai/v1/images/generations", {})
    assert sent.headers["api-key"] == clouds.azure.api_key and "authorization" not in sent.headers
    assert sent.json is not None and sent.json["model"] == "img2-prod", "model = the Azure deployment name"
    assert sent.json["size"] == "1536x1024" and sent.json["quality"] == "high"
    assert result.data is not None and decode_b64(result.data[0].b64_json or "").size == (1536, 1024)
    assert not clouds.openai.requests


def test_older_deployments_form_with_entra_id_tokens(clouds: Clouds) -> None:
    result = clouds.sdk().images.generate(model="gpt-image-1.5", prompt="a lamp", size="1024x1536")
    [sent] = clouds.azure.requests_to("/images/")
    assert sent.path == "/openai/deployments/img15-legacy/images/generations"
    assert sent.query == {"api-version": "2025-04-01-preview"}
    scheme, _, token = sent.headers["authorization"].partition(" ")
    assert scheme == "Bearer" and token in clouds.azure.tokens, "a token the identity endpoint issued"
    assert "api-key" not in sent.headers
    assert result.data is not None and decode_b64(result.data[0].b64_json or "").size == (1024, 1536)
    clouds.sdk().images.generate(model="gpt-image-1.5", prompt="again")
    assert len(clouds.azure.requests_to("/msi/token")) <= 1, "the token is cached, not fetched per call"


def test_edit_goes_multipart_to_the_deployment(clouds: Clouds) -> None:
    source = tiny_png(64, 64)
    result = clouds.sdk().images.edit(
        model="gpt-image-2", image=("in.png", source, "image/png"), prompt="add a hat", size="1024x1024"
    )
    sent = clouds.azure.last
    assert sent.path == "/openai/v1/images/edits" and sent.field("model") == "img2-prod"
    assert [f.data for f in sent.files("image")] == [source]
    assert result.data is not None and decode_b64(result.data[0].b64_json or "").size == (1024, 1024)


def test_streaming_passes_azure_partial_images_on(clouds: Clouds) -> None:
    stream = clouds.sdk().images.generate(
        model="gpt-image-2", prompt="a kite", size="1024x1024", stream=True, partial_images=2
    )
    events = list(stream)
    assert [e.type for e in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    sent = clouds.azure.last
    assert sent.json is not None and sent.json["stream"] is True and sent.json["partial_images"] == 2
    assert decode_b64(events[-1].b64_json).size == (1024, 1024)


def test_content_filter_is_content_policy_violation_with_its_category(clouds: Clouds) -> None:
    clouds.azure.enqueue(Fault.content_policy())
    with pytest.raises(openai.BadRequestError) as caught:
        clouds.sdk().images.generate(model="gpt-image-2", prompt="something disallowed")
    assert caught.value.code == "content_policy_violation"
    assert "violence" in caught.value.message
    assert len(clouds.azure.requests) == 1 and not clouds.openai.requests, "never retried elsewhere"


def test_webp_goes_to_a_deployment_that_has_it_or_is_refused(clouds: Clouds) -> None:
    result = clouds.sdk().images.generate(model="gpt-image-2", prompt="a sticker", output_format="webp")
    assert not clouds.azure.requests and len(clouds.openai.requests) == 1
    assert result.output_format == "webp"
    with pytest.raises(openai.BadRequestError) as caught:
        clouds.sdk().images.generate(model="gpt-image-1", prompt="a sticker", output_format="webp")
    assert caught.value.code == "unsupported_value" and caught.value.param == "output_format"
    assert not clouds.azure.requests, "refused before any call"


def test_refused_credentials_fall_over_to_openai(clouds: Clouds) -> None:
    clouds.azure.enqueue(Fault.status(401, body={"error": {"code": "401", "message": "Access denied"}}))
    result = clouds.sdk().images.generate(model="gpt-image-2", prompt="fall over", size="1024x1024")
    assert len(clouds.azure.requests) == 1, "a 401 is not retried on the same deployment"
    sent = clouds.openai.last
    assert sent.path == "/v1/images/generations" and sent.json is not None
    assert sent.json["model"] == "gpt-image-2", "OpenAI gets the catalog name, not Azure's"
    assert result.data is not None and base64.b64decode(result.data[0].b64_json or "")


def test_server_errors_are_retried_on_azure(clouds: Clouds) -> None:
    clouds.azure.enqueue(Fault.status(500))
    result = clouds.sdk().images.generate(model="gpt-image-2", prompt="retry me")
    assert len(clouds.azure.requests) == 2 and not clouds.openai.requests
    assert result.data is not None


def test_bad_parameter_passes_through_as_400(clouds: Clouds) -> None:
    body = {
        "error": {
            "code": "invalid_value",
            "message": "Invalid size.",
            "param": "size",
            "type": "invalid_request_error",
        }
    }
    clouds.azure.enqueue(Fault.status(400, body=body))
    with pytest.raises(openai.BadRequestError) as caught:
        clouds.sdk().images.generate(model="gpt-image-2", prompt="odd", size="2048x1152")
    assert caught.value.param == "size" and caught.value.code == "invalid_value"
    assert len(clouds.azure.requests) == 1 and not clouds.openai.requests
