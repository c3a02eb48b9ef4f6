"""/docs and /redoc in a real browser: they render with no request leaving 127.0.0.1, and
Swagger UI's "Try it out" works with a Bearer key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser import chromium, find_chromium, requested_urls, screenshot, wait_for
from tests.conftest import Keys
from tests.hub import Hub


@pytest.fixture(scope="module")
def browser(hub: Hub) -> Iterator[Any]:
    find_chromium()
    yield from chromium()


def css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def assert_local(urls: list[str]) -> None:
    remote = [
        u
        for u in urls
        if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).hostname != "127.0.0.1"
    ]
    assert urls and not remote, f"requests left the machine: {remote}"


def test_swagger_ui_renders_offline_and_try_it_out_works(browser: Any, hub: Hub, keys: Keys) -> None:
    browser.get_log("performance")  # start from an empty log
    browser.get(hub.url + "/docs")
    wait_for(browser, lambda d: len(css(d, ".swagger-ui .opblock")) > 5)
    assert_local(requested_urls(browser))
    screenshot(browser, "10-docs")

    css(browser, ".swagger-ui .btn.authorize")[0].click()
    field = wait_for(browser, lambda d: next(iter(css(d, ".modal-ux input")), None))
    field.send_keys(keys.sandbox)
    css(browser, ".modal-ux .auth-btn-wrapper .authorize")[0].click()
    css(browser, ".modal-ux .btn-done")[0].click()
    operation = css(browser, "#operations-images-_create_image_api_images_generations_post")[0]
    operation.find_element("css selector", ".opblock-summary").click()
    execute = wait_for(browser, lambda d: next(iter(css(d, ".opblock.is-open .execute")), None))
    execute.click()
    status = wait_for(
        browser,
        lambda d: next(
            iter(css(d, ".opblock.is-open .live-responses-table tbody .response-col_status")), None
        ),
    )
    assert status.text.strip().startswith("200"), status.text
    assert "x-imagehub-sandbox: true" in css(browser, ".opblock.is-open .live-responses-table")[0].text
    screenshot(browser, "11-docs-try-it-out")


def test_redoc_renders_offline(browser: Any, hub: Hub) -> None:
    browser.get_log("performance")
    browser.get(hub.url + "/redoc")
    wait_for(browser, lambda d: "Create images from a prompt" in d.find_element("tag name", "body").text)
    assert_local(requested_urls(browser))
    screenshot(browser, "12-redoc")
