"""The console's Jobs view in a real browser: submit asynchronously, watch the job end with its
image, register a webhook endpoint (allowlisted 127.0.0.1 receiver), send a test, see the log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import chromium, find_chromium, screenshot, wait_for
from tests.hub import Hub, create_key
from tests.test_console import all_css, by_css, sign_in
from tests.webhook_receiver import Receiver


@pytest.fixture(scope="module")
def jobs_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, str]]:
    find_chromium()
    data_dir = tmp_path_factory.mktemp("console-jobs") / "data"
    env = {"IMAGEHUB_WEBHOOK_ALLOWLIST": "127.0.0.1", "IMAGEHUB_JOB_POLL_SECONDS": "0.1"}
    hub = Hub(data_dir, env=env).start()
    yield hub, create_key(data_dir, "console jobs", sandbox=True, env=env)
    hub.stop()


@pytest.fixture(scope="module")
def browser(jobs_hub: tuple[Hub, str]) -> Iterator[Any]:
    yield from chromium()


def test_jobs_view_submits_and_shows_results_and_deliveries(browser: Any, jobs_hub: tuple[Hub, str]) -> None:
    hub, key = jobs_hub
    sign_in(browser, hub, key)
    browser.get(hub.url + "/#jobs")
    wait_for(browser, lambda d: not by_css(d, "#view-jobs").get_attribute("hidden"))
    by_css(browser, "#j-prompt").send_keys("a queued lighthouse")
    by_css(browser, "#j-model").send_keys("dall-e-2")
    by_css(browser, "#job-form button[type=submit]").click()
    wait_for(browser, lambda d: all_css(d, "#jobs-rows tr[data-status=succeeded] img.job-thumb"))
    receiver = Receiver().start()
    try:
        by_css(browser, "#h-url").send_keys(receiver.url)
        by_css(browser, "#hook-form button[type=submit]").click()
        wait_for(browser, lambda d: "whsec_" in by_css(d, "#hook-secret").text)
        wait_for(browser, lambda d: all_css(d, "#hooks-list li[data-endpoint]"))
        buttons = all_css(browser, "#hooks-list li[data-endpoint] button")
        next(b for b in buttons if b.text == "Send test").click()
        receiver.wait_for(1)
        wait_for(browser, lambda d: "webhook.test" in by_css(d, "#hooks-list").text)
        screenshot(browser, "console-jobs")
    finally:
        receiver.stop()


def test_playground_streams_previews_as_they_arrive(browser: Any, jobs_hub: tuple[Hub, str]) -> None:
    """One image is generated with `stream: true`: partial images fill its tile, then the result."""
    hub, _ = jobs_hub
    browser.get(hub.url + "/#playground")  # still signed in (this tab's session) from the test above
    wait_for(browser, lambda d: by_css(d, "#whoami").is_displayed())
    wait_for(
        browser, lambda d: "gpt-image-1" in [o.get_attribute("value") for o in all_css(d, "#f-model option")]
    )
    from selenium.webdriver.support.ui import Select

    Select(by_css(browser, "#f-model")).select_by_value("gpt-image-1")
    by_css(browser, "#f-prompt").send_keys("a streamed harbour")
    by_css(browser, "#gen-submit").click()
    wait_for(browser, lambda d: all_css(d, "#results .tile a.button[download]"))
    partials = by_css(browser, "#results").get_attribute("data-partials")
    assert partials is not None and int(partials) >= 1
    width = browser.execute_script("return document.querySelector('#results .tile img').naturalWidth")
    assert width > 0
