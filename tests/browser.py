"""A real headless Chromium (Debian's `chromium` + `chromium-driver`) driven by Selenium.

Never downloads a browser: the tests skip, naming which of the two is missing, only when a
package is (`make test` and `.ci/run` install them through scripts/ensure-browser.sh).
Screenshots go to test-artifacts/console/ at the repository root.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "console"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)
T = TypeVar("T")


def find_chromium() -> tuple[str, str]:
    """Chromium and chromedriver, or a skip that names exactly which of the two is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [
        (program, package)
        for program, package, found in (
            ("chromium", "chromium", browser),
            ("chromedriver", "chromium-driver", driver),
        )
        if not found
    ]
    if missing or not browser or not driver:
        programs = " and ".join(f"{program} (package {package})" for program, package in missing)
        pytest.skip(
            f"{programs} not found on PATH: apt-get install -y {' '.join(p for _, p in missing)} "
            "(make test and .ci/run try it through scripts/ensure-browser.sh)"
        )
    return browser, driver


def chromium() -> Iterator[Any]:
    """A fresh browser with its own profile; network requests are recorded in the performance log."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = find_chromium()
    profile = tempfile.mkdtemp(prefix="imagehub-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def requested_urls(driver: Any) -> list[str]:
    """Every URL the page asked the network for since the last call (Chrome's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def wait_for(driver: Any, condition: Callable[[Any], T], timeout: float = 60) -> T:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # A page that re-renders (a table after an update) replaces the elements a condition holds.
    waiting = WebDriverWait(
        driver, timeout, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
    )
    return waiting.until(condition)


def screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
