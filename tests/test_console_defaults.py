"""The console's starting choices and its usage chart, in a real browser against a real hub.

The edit form starts on the model the API uses for an edit that names none; the usage chart
puts model names the catalog does not know (typos in refused requests) in one "unknown model"
bar instead of a bar per typo.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.browser import chromium, find_chromium, wait_for
from tests.hub import Hub, create_key
from tests.test_console import by_css, options_of, select, sign_in


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, str]]:
    find_chromium()
    data_dir = tmp_path_factory.mktemp("console-defaults") / "data"
    hub = Hub(data_dir).start()
    yield hub, create_key(data_dir, "console defaults", sandbox=True)
    hub.stop()


@pytest.fixture(scope="module")
def browser(console: tuple[Hub, str]) -> Iterator[Any]:
    yield from chromium()


def model_in_form(driver: Any) -> str:
    return str(by_css(driver, "#f-model").get_attribute("value"))


def test_each_form_starts_on_the_api_s_default_model(browser: Any, console: tuple[Hub, str]) -> None:
    hub, sandbox = console
    sign_in(browser, hub, sandbox)
    wait_for(browser, lambda d: "dall-e-3" in options_of(d, "#f-model"))
    assert model_in_form(browser) == "dall-e-2", "generations default to dall-e-2"
    by_css(browser, "#op-edit").click()
    wait_for(browser, lambda d: "dall-e-3" not in options_of(d, "#f-model"))
    assert model_in_form(browser) == "gpt-image-1.5", "edits default to gpt-image-1.5"
    select(browser, "#f-model", "gpt-image-1")
    by_css(browser, "input[name=op][value=generate]").click()
    wait_for(browser, lambda d: "dall-e-3" in options_of(d, "#f-model"))
    assert model_in_form(browser) == "gpt-image-1", "a model the user picked stays picked"


def test_the_usage_chart_groups_unknown_model_names(browser: Any, console: tuple[Hub, str]) -> None:
    hub, sandbox = console
    sdk = openai.OpenAI(base_url=f"{hub.url}/api", api_key=sandbox, max_retries=0, timeout=60)
    sdk.images.generate(model="gpt-image-2", prompt="a bar", size="1024x1024")
    for typo in ("dall-e-9", "gpt-imagen-1", "dalle2"):
        with pytest.raises(openai.NotFoundError):
            sdk.images.generate(model=typo, prompt="a typo")
    sign_in(browser, hub, sandbox)
    browser.get(hub.url + "/#usage")
    wait_for(browser, lambda d: by_css(d, "#view-usage").get_attribute("data-ready") == "true")
    models = browser.execute_script("return document.getElementById('chart-model').data[0].x")
    assert sorted(models) == ["gpt-image-2", "unknown model"]
