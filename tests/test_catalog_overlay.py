"""IMAGEHUB_CATALOG_FILE: an operator changes the catalog without a release, or is told why not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.hub import Hub, cli, create_key
from tests.images import decode_b64

OVERLAY = """
# A model launched after our release, with its price.
[models."gpt-image-2.7-nova"]
extends = "gpt-image-2"
display_name = "GPT Image 2.7 Nova"
created = 2026-12-02

[prices."gpt-image-2.7-nova".per_image]
"*/*" = 7000

# A date that moved, and a successor named by the operator.
[models."gpt-image-2".lifecycle]
shutdown_date = 2026-12-01
successor = "gpt-image-2.7-nova"

# Re-point one old name, refuse another.
[aliases."dall-e-3"]
target = "gpt-image-2.6-flare"

[aliases."dall-e-2"]
target = "gpt-image-2.5-flare"
refuse = true
shutdown_date = 2026-05-12
"""


@pytest.fixture(scope="module")
def overlaid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    root = tmp_path_factory.mktemp("overlay")
    (root / "catalog.toml").write_text(OVERLAY)
    hub = Hub(root / "data", env={"IMAGEHUB_CATALOG_FILE": str(root / "catalog.toml")}).start()
    key = create_key(hub.data_dir, "sandbox", sandbox=True)
    yield openai.OpenAI(base_url=f"{hub.url}/api", api_key=key, max_retries=0, timeout=60)
    hub.stop()


def test_an_added_model_is_listed_with_its_price_and_serves(overlaid: openai.OpenAI) -> None:
    card = overlaid.models.retrieve("gpt-image-2.7-nova")
    assert card.model_extra is not None
    assert card.model_extra["imagehub"]["price"]["per_image"] == {"*/*": 7000}
    result = overlaid.images.generate(model="gpt-image-2.7-nova", prompt="new", size="1024x1024")
    assert result.data is not None and decode_b64(result.data[0].b64_json or "").size == (1024, 1024)


def test_a_moved_date_takes_effect(overlaid: openai.OpenAI) -> None:
    raw = overlaid.images.with_raw_response.generate(model="gpt-image-2", prompt="moved", size="1280x720")
    assert raw.headers["x-imagehub-model"] == "gpt-image-2.7-nova"
    assert raw.headers["sunset"] == "Tue, 01 Dec 2026 00:00:00 GMT"
    assert overlaid.models.retrieve("gpt-image-2").shutdown_date == "2026-12-01"


def test_a_re_pointed_name_is_served_by_the_new_target(overlaid: openai.OpenAI) -> None:
    raw = overlaid.images.with_raw_response.generate(
        model="dall-e-3", prompt="re-pointed", size="1024x1792", response_format="b64_json"
    )
    assert raw.headers["x-imagehub-model"] == "gpt-image-2.6-flare"
    result = raw.parse()
    assert result.data is not None and decode_b64(result.data[0].b64_json or "").size == (1024, 1792)


def test_a_refused_name_is_410_naming_the_replacement(overlaid: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        overlaid.images.generate(model="dall-e-2", prompt="refused")
    assert caught.value.status_code == 410
    body = caught.value.body
    assert isinstance(body, dict) and body["code"] == "model_shut_down" and body["param"] == "model"
    assert "gpt-image-2.5-flare" in body["message"] and "2026-05-12" in body["message"]


@pytest.mark.parametrize(
    ("content", "fault"),
    [
        ("[models.\n", "not valid TOML"),
        ('[models."dall-e-3"]\nsizez = ["1x1"]\n', "dall-e-3"),
        ('[models."dall-e-3".lifecycle]\nsuccessor = "no-such-model"\n', "no-such-model"),
        ('[models."dall-e-3".lifecycle]\nshutdown_date = "soon"\n', "shutdown_date"),
        ("[pricez]\n", "unknown section"),
    ],
    ids=["toml", "field", "successor", "date", "section"],
)
def test_a_broken_file_stops_serve_in_one_line(tmp_path: Path, content: str, fault: str) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(content)
    done = cli(
        tmp_path / "data", "serve", "--port", "1", env={"IMAGEHUB_CATALOG_FILE": str(broken)}, check=False
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(broken) in lines[0] and fault in lines[0]
    assert "Traceback" not in done.stderr + done.stdout


def test_a_missing_file_stops_serve_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    done = cli(tmp_path / "data", "serve", env={"IMAGEHUB_CATALOG_FILE": str(missing)}, check=False)
    assert done.returncode == 2 and str(missing) in done.stderr and "Traceback" not in done.stderr
