"""Every name our API page shows keeps working against OpenAI as it is in December 2026.

A fake OpenAI answers 404 model_not_found for every shut-down image model, exactly as OpenAI
does; a real hub with a live key serves them by their successors, under their own contracts.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai_2026 import SHUT_DOWN, FakeOpenAIDecember2026
from tests.hub import Hub, create_key
from tests.images import decode_b64, open_bytes
from tests.payloads import png, rgba_png
from tests.test_spec_examples import BASIC, DALL_E_3, _run

# Deprecation is the notice date (RFC 9745), Sunset the shutdown date (RFC 8594).
DALL_E_NOTICE = "@1763078400"  # 2025-11-14
DALL_E_SUNSET = "Tue, 12 May 2026 00:00:00 GMT"


@dataclass
class December:
    hub: Hub
    fake: FakeOpenAIDecember2026
    key: str

    def sdk(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.hub.url}/api", api_key=self.key, max_retries=0, timeout=60)


def _december_hub(tmp: pytest.TempPathFactory, fake: FakeOpenAIDecember2026, **env: str) -> December:
    data_dir = tmp.mktemp("december") / "data"
    full_env = {"OPENAI_BASE_URL": f"{fake.url}/v1", "OPENAI_API_KEY": fake.api_key, **env}
    hub = Hub(data_dir, env=full_env).start()
    return December(hub, fake, create_key(data_dir, "live", sandbox=False))


@pytest.fixture(scope="module")
def december(tmp_path_factory: pytest.TempPathFactory) -> Iterator[December]:
    with FakeOpenAIDecember2026() as fake:
        running = _december_hub(tmp_path_factory, fake)
        yield running
        running.hub.stop()


@pytest.fixture
def fake(december: December) -> Iterator[FakeOpenAIDecember2026]:
    december.fake.reset()
    yield december.fake
    assert not december.fake.errors, "the fake itself crashed"
    sent = set(december.fake.received_models())
    assert not sent & SHUT_DOWN, f"a shut-down name reached the upstream: {sent & SHUT_DOWN}"


def _body(example: str) -> dict[str, Any]:
    """The JSON of a curl example, verbatim."""
    body = json.loads(example.split("--data '", 1)[1].rsplit("'", 1)[0])
    assert isinstance(body, dict)
    return body


def test_basic_example_of_our_page_answers_a_1024_png_url(
    december: December, fake: FakeOpenAIDecember2026
) -> None:
    raw = december.sdk().images.with_raw_response.generate(**_body(BASIC))
    assert raw.http_response.status_code == 200
    assert raw.headers["x-imagehub-model"] == "gpt-image-2.5-sunburst"
    assert raw.headers["deprecation"] == DALL_E_NOTICE
    assert raw.headers["sunset"] == DALL_E_SUNSET
    result = raw.parse()
    assert result.data is not None and len(result.data) == 1 and result.data[0].url
    assert result.usage is None, "dall-e-2's answer shape: no usage"
    image = httpx.get(result.data[0].url)
    assert image.headers["content-type"] == "image/png"
    assert open_bytes(image.content).size == (1024, 1024)
    sent = fake.last.json
    assert sent["model"] == "gpt-image-2.5-sunburst" and sent["size"] == "1024x1024"
    assert sent["quality"] == "low", "dall-e-2's standard maps to low (catalog quality_map)"
    assert "response_format" not in sent


def test_dall_e_3_example_of_our_page_answers_exactly_1792x1024(
    december: December, fake: FakeOpenAIDecember2026
) -> None:
    raw = december.sdk().images.with_raw_response.generate(**_body(DALL_E_3))
    assert raw.http_response.status_code == 200
    assert raw.headers["x-imagehub-model"] == "gpt-image-2.5-sunburst"
    # Priced as the successor: the tokens the fake reports (12 in, 7024 out) at $5 / $30 per 1M.
    assert raw.headers["x-imagehub-cost-micros"] == str(12 * 5 + 7024 * 30)
    result = raw.parse()
    assert result.data is not None and len(result.data) == 1 and result.data[0].b64_json
    assert decode_b64(result.data[0].b64_json).size == (1792, 1024)
    assert decode_b64(result.data[0].b64_json).format == "PNG"
    sent = fake.last.json
    assert sent["model"] == "gpt-image-2.5-sunburst" and sent["size"] == "1792x1024"
    assert sent["quality"] == "high", "hd maps to high"
    assert "style" not in sent and "vivid" in sent["prompt"], "style becomes words in the prompt"


def test_both_curl_examples_verbatim_with_a_live_key(
    december: December, fake: FakeOpenAIDecember2026
) -> None:
    basic = _run(BASIC, december.hub, december.key)
    assert set(basic) == {"created", "data"}
    data = basic["data"]
    assert isinstance(data, list) and set(data[0]) == {"url"}
    hd = _run(DALL_E_3, december.hub, december.key)
    items = hd["data"]
    assert isinstance(items, list) and decode_b64(items[0]["b64_json"]).size == (1792, 1024)


def test_dall_e_2_256_n2_gives_two_256_pngs(december: December, fake: FakeOpenAIDecember2026) -> None:
    result = december.sdk().images.generate(model="dall-e-2", prompt="two cats", size="256x256", n=2)
    assert result.data is not None and len(result.data) == 2
    for item in result.data:
        assert item.url
        fetched = httpx.get(item.url)
        assert fetched.headers["content-type"] == "image/png"
        image = open_bytes(fetched.content)
        assert image.size == (256, 256) and image.format == "PNG"
    assert fake.last.json["n"] == 2 and fake.last.json["size"] == "1024x1024"


@pytest.mark.parametrize(
    ("model", "successor"),
    [
        ("dall-e-2", "gpt-image-2.5-sunburst"),
        ("dall-e-3", "gpt-image-2.5-sunburst"),
        ("gpt-image-1", "gpt-image-2.5-sunburst"),
        ("gpt-image-1-mini", "gpt-image-2.6-sunburst"),
        ("gpt-image-1.5", "gpt-image-2.6-sunburst"),
        ("chatgpt-image-latest", "gpt-image-2.6-sunburst"),
    ],
)
def test_every_shut_down_gpt_name_answers_200(
    december: December, fake: FakeOpenAIDecember2026, model: str, successor: str
) -> None:
    size = "1024x1024" if model.startswith("dall-e") else "1536x1024"
    raw = december.sdk().images.with_raw_response.generate(
        model=model, prompt="a lighthouse", size=size, response_format="b64_json"
    )
    assert raw.headers["x-imagehub-model"] == successor
    assert "sunset" in raw.headers and "deprecation" in raw.headers
    result = raw.parse()
    assert result.data is not None and result.data[0].b64_json
    width, height = (int(side) for side in size.split("x"))
    assert decode_b64(result.data[0].b64_json).size == (width, height)
    assert fake.received_models() == [successor]


def test_old_gpt_contract_keeps_its_echo_and_usage(december: December, fake: FakeOpenAIDecember2026) -> None:
    result = december.sdk().images.generate(
        model="gpt-image-1", prompt="usage", size="1024x1536", quality="low"
    )
    assert result.size == "1024x1536"  # type: ignore[comparison-overlap]
    assert result.usage is not None and result.usage.output_tokens > 0
    assert fake.last.json["quality"] == "low" and fake.last.json["size"] == "1024x1536"


def test_old_rules_still_apply_to_old_names(december: December, fake: FakeOpenAIDecember2026) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        december.sdk().images.generate(model="dall-e-3", prompt="two", n=2)
    assert caught.value.param == "n"
    with pytest.raises(openai.BadRequestError) as caught:
        december.sdk().images.generate(model="dall-e-2", prompt="wide", size="1792x1024")
    assert caught.value.param == "size"
    assert fake.requests == []


def test_dead_names_never_trip_the_breaker(december: December, fake: FakeOpenAIDecember2026) -> None:
    client = december.sdk()
    for _ in range(6):
        client.images.generate(model="dall-e-3", prompt="again", response_format="b64_json")
    live = client.images.generate(model="gpt-image-2", prompt="still here", size="1024x1024")
    assert live.data is not None and live.data[0].b64_json
    assert fake.received_models() == ["gpt-image-2.5-sunburst"] * 6 + ["gpt-image-2"]


def test_the_models_list_says_shutdown_and_successor(
    december: December, fake: FakeOpenAIDecember2026
) -> None:
    entry = december.sdk().models.retrieve("dall-e-3")
    assert entry.shutdown_date == "2026-05-12" and entry.model_extra is not None
    extension = entry.model_extra["imagehub"]
    assert extension["deprecated"] is True and extension["successor"] == "gpt-image-2.5-sunburst"
    assert extension["price"]["per_token"]["output"] == 30, "listed at what it is charged now"
    assert extension["served_by"] == "gpt-image-2.5-sunburst"
    current = december.sdk().models.retrieve("gpt-image-2.6-sunburst")
    assert current.shutdown_date is None and current.model_extra is not None
    assert current.model_extra["imagehub"]["deprecated"] is False
    listed = {model.id for model in december.sdk().models.list()}
    assert {"dall-e-2", "dall-e-3", "gpt-image-2.6-flare"} <= listed


# -- a catalog entry that is wrong: the upstream says model_not_found for a "live" name -----------


@pytest.fixture(scope="module")
def stale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[December]:
    """gpt-image-2 gone upstream while the catalog (given a successor by the operator) thinks it live."""
    overlay = tmp_path_factory.mktemp("overlay") / "catalog.toml"
    overlay.write_text('[models."gpt-image-2".lifecycle]\nsuccessor = "gpt-image-2.6-flare"\n')
    with FakeOpenAIDecember2026() as fake:
        fake.gone.add("gpt-image-2")
        running = _december_hub(tmp_path_factory, fake, IMAGEHUB_CATALOG_FILE=str(overlay))
        yield running
        running.hub.stop()


def test_model_not_found_falls_over_to_the_successor_and_keeps_the_deployment_healthy(
    stale: December,
) -> None:
    client = stale.sdk()
    for _ in range(5):
        raw = client.images.with_raw_response.generate(model="gpt-image-2", prompt="p", size="1280x720")
        assert raw.headers["x-imagehub-model"] == "gpt-image-2.6-flare"
        assert decode_b64(raw.parse().data[0].b64_json or "").size == (1280, 720)  # type: ignore[index]
    assert stale.fake.received_models() == ["gpt-image-2"] + ["gpt-image-2.6-flare"] * 5
    other = client.images.generate(model="gpt-image-2.5-flare", prompt="other model, same deployment")
    assert other.data is not None and other.data[0].b64_json
    assert "catalog entry 'gpt-image-2' is stale" in stale.hub.log()
    assert "cooling down" not in stale.hub.log()


# -- the sandbox, and time -------------------------------------------------------------------------


def test_sandbox_follows_the_same_lifecycle(sdk: openai.OpenAI) -> None:
    raw = sdk.images.with_raw_response.generate(model="dall-e-3", prompt="sandbox", size="1024x1792")
    assert raw.headers["x-imagehub-model"] == "gpt-image-2.5-sunburst"
    assert raw.headers["sunset"] == DALL_E_SUNSET
    result = raw.parse()
    assert result.data is not None and result.data[0].url
    assert open_bytes(httpx.get(result.data[0].url).content).size == (1024, 1792)


def test_before_the_shutdown_date_the_name_goes_upstream_as_is(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with FakeOpenAIDecember2026() as fake:
        fake.gone.clear()  # OpenAI in April 2026: DALL-E still served
        april = _december_hub(tmp_path_factory, fake, IMAGEHUB_TODAY="2026-04-01")
        try:
            raw = april.sdk().images.with_raw_response.generate(model="dall-e-3", prompt="april")
            assert fake.received_models() == ["dall-e-3"]
            assert raw.headers["deprecation"] == DALL_E_NOTICE, "announced: deprecated, not yet gone"
            assert "x-imagehub-model" in raw.headers and raw.headers["x-imagehub-model"] == "dall-e-3"
        finally:
            april.hub.stop()


def test_a_deployment_listing_a_dead_name_serves_it_natively(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with FakeOpenAIDecember2026() as fake:
        fake.gone.discard("dall-e-3")  # an OpenAI-compatible server that still hosts it
        config = tmp_path_factory.mktemp("config") / "hub.toml"
        config.write_text(
            "[[deployments]]\n"
            'name = "compat"\nprovider = "openai"\n'
            f'base_url = "{fake.url}/v1"\napi_key = "{fake.api_key}"\n'
            'models = ["dall-e-3", "gpt-image-2.5-sunburst"]\n'
        )
        hub = _december_hub(tmp_path_factory, fake, IMAGEHUB_CONFIG_FILE=str(config))
        try:
            result = hub.sdk().images.generate(model="dall-e-3", prompt="native", response_format="b64_json")
            assert fake.received_models() == ["dall-e-3"]
            assert result.data is not None and result.data[0].revised_prompt == "revised: native"
            assert base64.b64decode(result.data[0].b64_json or "")[:4] == b"\x89PNG"
        finally:
            hub.hub.stop()


def test_the_usage_record_keeps_the_asked_and_the_served_model(
    december: December, fake: FakeOpenAIDecember2026
) -> None:
    december.sdk().images.generate(model="dall-e-3", prompt="on the record", user="ledger-check")
    database = december.hub.data_dir / "imagehub.db"
    rows: list[tuple[str, str | None]] = []
    for _ in range(200):  # the usage writer batches records: wait for this one to land
        with sqlite3.connect(database) as connection:
            rows = connection.execute(
                "SELECT model, requested_model FROM usage_records WHERE requested_model = 'dall-e-3'"
            ).fetchall()
        if rows:
            break
        time.sleep(0.05)
    assert ("gpt-image-2.5-sunburst", "dall-e-3") in rows


def test_dall_e_2_variation_becomes_an_edit_on_its_successor(
    december: December, fake: FakeOpenAIDecember2026
) -> None:
    result = december.sdk().images.create_variation(
        image=("square.png", png(width=256, height=256), "image/png"), size="512x512", n=1
    )
    assert result.data is not None and result.data[0].url
    assert open_bytes(httpx.get(result.data[0].url).content).size == (512, 512)
    sent = fake.last
    assert sent.path == "/v1/images/edits" and sent.field("model") == "gpt-image-2.5-sunburst"
    assert "variation" in (sent.field("prompt") or "")


def test_dall_e_2_edit_without_mask_edits_where_the_image_is_transparent(
    december: December, fake: FakeOpenAIDecember2026
) -> None:
    source = rgba_png(256, 256)
    result = december.sdk().images.edit(
        model="dall-e-2", image=("a.png", source, "image/png"), prompt="fill it", size="256x256"
    )
    assert result.data is not None and result.data[0].url
    assert open_bytes(httpx.get(result.data[0].url).content).size == (256, 256)
    sent = fake.last
    assert sent.field("model") == "gpt-image-2.5-sunburst" and sent.field("size") == "1024x1024"
    assert [part.data for part in sent.files("mask")] == [source], "the image's alpha is the mask"


def test_gpt_image_2_6_takes_complexity_and_the_new_qualities(
    december: December, fake: FakeOpenAIDecember2026
) -> None:
    client = december.sdk()
    client.images.generate(
        model="gpt-image-2.6-flare",
        prompt="planned",
        size="1536x1024",
        quality="max",  # type: ignore[arg-type]
        extra_body={"complexity": "low"},
    )
    assert fake.last.json["quality"] == "max" and fake.last.json["complexity"] == "low"
    client.images.generate(model="gpt-image-2.5-sunburst", prompt="x", quality="xhigh")  # type: ignore[arg-type]
    assert fake.last.json["quality"] == "xhigh" and "complexity" not in fake.last.json
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="gpt-image-2.5-flare", prompt="x", extra_body={"complexity": "high"})
    assert caught.value.param == "complexity" and caught.value.code == "unsupported_parameter"
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="gpt-image-2", prompt="x", quality="max")  # type: ignore[arg-type]
    assert caught.value.param == "quality"


def test_a_provider_row_moves_the_date_for_that_provider_only(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """OpenAI retires gpt-image-2 early; Azure's row (no deployment here) would keep it."""
    overlay = tmp_path_factory.mktemp("provider-row") / "catalog.toml"
    overlay.write_text(
        '[models."gpt-image-2".lifecycle]\n'
        'successor = "gpt-image-2.6-flare"\n'
        "providers.openai = { shutdown_date = 2026-11-01 }\n"
        "providers.azure = { shutdown_date = 2027-06-01 }\n"
    )
    with FakeOpenAIDecember2026() as fake:
        hub = _december_hub(tmp_path_factory, fake, IMAGEHUB_CATALOG_FILE=str(overlay))
        try:
            raw = hub.sdk().images.with_raw_response.generate(
                model="gpt-image-2", prompt="p", size="1024x1024"
            )
            assert raw.headers["x-imagehub-model"] == "gpt-image-2.6-flare"
            assert raw.headers["sunset"] == "Sun, 01 Nov 2026 00:00:00 GMT"
            assert fake.received_models() == ["gpt-image-2.6-flare"]
        finally:
            hub.hub.stop()
