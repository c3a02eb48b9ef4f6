"""The console in a real browser against a real hub with sandbox and admin keys.

One hub and one Chromium for the module; the tests run in file order, as a user would: sign in,
generate with two models, edit with a painted mask, look at the gallery and the dashboard, then
an admin tops up the key. Each view is kept as a screenshot (tests/browser.py says where).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium, find_chromium, screenshot, wait_for
from tests.hub import Hub, create_key
from tests.images import tiny_png


@pytest.fixture(scope="module")
def console_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, str, str]]:
    find_chromium()
    data_dir = tmp_path_factory.mktemp("console") / "data"
    hub = Hub(data_dir).start()
    sandbox = create_key(data_dir, "console sandbox", sandbox=True)
    admin = create_key(data_dir, "console admin", admin=True)
    yield hub, sandbox, admin
    hub.stop()


@pytest.fixture(scope="module")
def browser(console_hub: tuple[Hub, str, str]) -> Iterator[Any]:
    yield from chromium()


def by_css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def all_css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def select(driver: Any, selector: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(by_css(driver, selector)).select_by_value(value)


def options_of(driver: Any, selector: str) -> list[str]:
    return [option.get_attribute("value") for option in all_css(driver, f"{selector} option")]


def sign_in(driver: Any, hub: Hub, key: str) -> None:
    driver.get(hub.url + "/")
    if by_css(driver, "#whoami").is_displayed():
        by_css(driver, "#sign-out").click()
    field = wait_for(driver, lambda d: by_css(d, "#signin-key"))
    field.send_keys(key)
    by_css(driver, "#signin-form button[type=submit]").click()
    wait_for(driver, lambda d: by_css(d, "#whoami").is_displayed())


def loaded_images(driver: Any, selector: str) -> list[Any]:
    images = all_css(driver, selector)
    done = driver.execute_script("return arguments[0].every(i => i.complete && i.naturalWidth > 0)", images)
    return images if done else []


def test_sign_in_keeps_the_key_in_session_storage_only(
    browser: Any, console_hub: tuple[Hub, str, str]
) -> None:
    hub, sandbox, _ = console_hub
    browser.get(hub.url + "/")
    screenshot(browser, "01-sign-in")
    sign_in(browser, hub, sandbox)
    assert browser.execute_script("return sessionStorage.getItem('imagehub.apiKey')") == sandbox
    assert sandbox not in browser.current_url
    assert sandbox not in browser.execute_script("return document.cookie + JSON.stringify(localStorage)")
    assert "console sandbox" in by_css(browser, "#key-label").text


def test_deprecated_names_are_grouped_apart_saying_who_serves_them(
    browser: Any, console_hub: tuple[Hub, str, str]
) -> None:
    hub, sandbox, _ = console_hub
    sign_in(browser, hub, sandbox)
    wait_for(browser, lambda d: "dall-e-3" in options_of(d, "#f-model"))
    groups = [group.get_attribute("label") for group in all_css(browser, "#f-model optgroup")]
    assert groups == ["Current models", "Deprecated names"]
    old = options_of(browser, "#f-model optgroup[label='Deprecated names']")
    assert {"dall-e-2", "dall-e-3", "gpt-image-1", "gemini-3.1-flash-image"} <= set(old)
    assert "gpt-image-2.6-sunburst" in options_of(browser, "#f-model optgroup[label='Current models']")
    labels = [
        option.text for option in all_css(browser, "#f-model optgroup[label='Deprecated names'] option")
    ]
    assert "dall-e-3 (shutdown 2026-05-12) → served by gpt-image-2.5-sunburst" in labels


def test_generate_with_two_models(browser: Any, console_hub: tuple[Hub, str, str]) -> None:
    hub, sandbox, _ = console_hub
    sign_in(browser, hub, sandbox)
    wait_for(browser, lambda d: "dall-e-3" in options_of(d, "#f-model"))
    # dall-e-2: the sizes and n the catalog allows, two images in the grid.
    select(browser, "#f-model", "dall-e-2")
    assert options_of(browser, "#f-size") == ["256x256", "512x512", "1024x1024"]
    assert not by_css(browser, "[data-cap=styles]").is_displayed()
    select(browser, "#f-size", "256x256")
    select(browser, "#f-n", "2")
    by_css(browser, "#f-prompt").send_keys("a red fox in the snow")
    by_css(browser, "#gen-submit").click()
    images = wait_for(
        browser,
        lambda d: (
            loaded_images(d, "#results .tile img") if len(all_css(d, "#results .tile img")) == 2 else []
        ),
    )
    assert [browser.execute_script("return arguments[0].naturalWidth", i) for i in images] == [256, 256]
    assert "cost $0 (sandbox)" in by_css(browser, "#gen-status").text
    assert len(all_css(browser, "#results a.button[download]")) == 2
    # dall-e-3: only n=1 can be chosen; its styles appear. It is shut down: its successor draws
    # it at the asked size and revises no prompt.
    select(browser, "#f-model", "dall-e-3")
    assert options_of(browser, "#f-n") == ["1"]
    assert options_of(browser, "#f-size") == ["1024x1024", "1792x1024", "1024x1792"]
    assert options_of(browser, "#f-style") == ["", "vivid", "natural"]
    select(browser, "#f-size", "1792x1024")
    select(browser, "#f-style", "natural")
    by_css(browser, "#gen-submit").click()
    wait_for(
        browser,
        lambda d: (
            loaded_images(d, "#results .tile img") if len(all_css(d, "#results .tile img")) == 1 else []
        ),
    )
    assert not all_css(browser, "#results .revised")
    width = browser.execute_script("return document.querySelector('#results .tile img').naturalWidth")
    assert width == 1792
    screenshot(browser, "02-playground-grid")


def test_an_api_error_is_shown_next_to_its_field(
    browser: Any, console_hub: tuple[Hub, str, str], tmp_path: Path
) -> None:
    hub, sandbox, _ = console_hub
    sign_in(browser, hub, sandbox)
    by_css(browser, "#op-edit").click()
    wait_for(browser, lambda d: "dall-e-2" in options_of(d, "#f-model"))
    assert "dall-e-3" not in options_of(browser, "#f-model"), "only models that can edit are offered"
    select(browser, "#f-model", "dall-e-2")
    wide = tmp_path / "wide.png"
    wide.write_bytes(tiny_png(200, 100))  # dall-e-2 edits only square images
    by_css(browser, "#f-image").send_keys(str(wide))
    by_css(browser, "#f-prompt").send_keys("make it blue")
    by_css(browser, "#gen-submit").click()
    message = wait_for(browser, lambda d: by_css(d, "[data-error-for=image]").text)
    assert "square" in message.lower()
    assert by_css(browser, "#f-image").get_attribute("aria-invalid") == "true"
    screenshot(browser, "03-error-next-to-field")


def test_edit_with_an_uploaded_image_and_a_painted_mask(
    browser: Any, console_hub: tuple[Hub, str, str], tmp_path: Path
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    hub, sandbox, _ = console_hub
    sign_in(browser, hub, sandbox)
    by_css(browser, "#op-edit").click()
    wait_for(browser, lambda d: "dall-e-2" in options_of(d, "#f-model"))
    select(browser, "#f-model", "dall-e-2")
    source = tmp_path / "square.png"
    source.write_bytes(tiny_png(256, 256, (40, 120, 200)))
    by_css(browser, "#f-image").send_keys(str(source))
    canvas = wait_for(
        browser, lambda d: by_css(d, "#mask-canvas") if by_css(d, "#mask-area").is_displayed() else None
    )
    ActionChains(browser).move_to_element_with_offset(canvas, -40, -40).click_and_hold().move_by_offset(
        80, 30
    ).move_by_offset(0, 50).release().perform()
    painted = browser.execute_script(
        "const c = document.getElementById('mask-canvas');"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return [c.width, n];"
    )
    assert painted[0] == 256 and painted[1] > 500, "the mask is painted at the image's own size"
    select(browser, "#f-size", "256x256")
    by_css(browser, "#f-prompt").clear()
    by_css(browser, "#f-prompt").send_keys("a sailing boat")
    by_css(browser, "#gen-submit").click()
    wait_for(
        browser,
        lambda d: len(all_css(d, "#results .tile img")) == 1 and loaded_images(d, "#results .tile img"),
    )
    assert by_css(browser, "#gen-error").text == ""
    screenshot(browser, "04-edit-with-mask")


def test_gallery_lists_the_keys_images_with_their_parameters(
    browser: Any, console_hub: tuple[Hub, str, str]
) -> None:
    hub, sandbox, _ = console_hub
    sign_in(browser, hub, sandbox)
    browser.get(hub.url + "/#gallery")
    wait_for(browser, lambda d: len(all_css(d, "#gallery-grid .tile")) >= 4)
    wait_for(browser, lambda d: loaded_images(d, "#gallery-grid .tile img"))
    text = by_css(browser, "#gallery-grid").text
    assert "a red fox in the snow" in text and "model=dall-e-2" in text and "size=256x256" in text
    assert "model=dall-e-3" in text and "style=natural" in text and "a sailing boat" in text
    screenshot(browser, "05-gallery")


def test_dashboard_charts_after_a_few_requests(browser: Any, console_hub: tuple[Hub, str, str]) -> None:
    hub, sandbox, _ = console_hub
    sign_in(browser, hub, sandbox)
    browser.get(hub.url + "/#usage")
    wait_for(browser, lambda d: by_css(d, "#view-usage").get_attribute("data-ready") == "true")
    for chart in ("chart-spend-day", "chart-images-day", "chart-model", "chart-status"):
        assert all_css(browser, f"#{chart} .main-svg"), f"{chart} is drawn"
    models = browser.execute_script("return document.getElementById('chart-model').data[0].x")
    # Generations are recorded under the model that served them (both DALL-E names are shut
    # down); the refused edit under the name it asked for.
    assert set(models) == {"gpt-image-2.5-sunburst", "dall-e-2"}
    images = browser.execute_script("return document.getElementById('chart-images-day').data[0].y")
    assert sum(images) == 4  # 2 + 1 generated, 1 edited
    statuses = browser.execute_script("return document.getElementById('chart-status').data[0].x")
    assert statuses == ["HTTP 400"], "the refused edit of a wide image"
    assert "no prepaid balance" in by_css(browser, "#key-card").text.lower()
    screenshot(browser, "06-usage-dashboard")


def test_admin_tops_up_a_key(browser: Any, console_hub: tuple[Hub, str, str]) -> None:
    hub, _, admin = console_hub
    sign_in(browser, hub, admin)
    browser.get(hub.url + "/#admin")
    row = wait_for(
        browser,
        lambda d: next((r for r in all_css(d, "#keys-table tbody tr") if "console sandbox" in r.text), None),
    )
    row.find_element("css selector", "button").click()
    wait_for(browser, lambda d: by_css(d, "#key-dialog").is_displayed())
    amount = by_css(browser, "#kd-topup")
    amount.send_keys("-3")
    by_css(browser, "#kd-topup-go").click()
    assert wait_for(browser, lambda d: by_css(d, "[data-error-for=amount_micros]").text)
    amount.clear()
    amount.send_keys("12.5")
    by_css(browser, "#kd-topup-go").click()
    wait_for(browser, lambda d: "$12.5" in by_css(d, "#key-dialog-title").text)
    screenshot(browser, "07-admin-top-up")
    by_css(browser, "#kd-close").click()

    def balance(driver: Any) -> str | None:
        row = next((r for r in all_css(driver, "#keys-table tbody tr") if "console sandbox" in r.text), None)
        text = row.find_element("css selector", ".balance").text if row is not None else None
        return text if text == "$12.5" else None

    assert wait_for(browser, balance) == "$12.5"
    screenshot(browser, "08-admin-keys")
