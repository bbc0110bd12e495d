"""Helpers for the console's browser tests: headless Chromium from Debian driven by Selenium.

``browser`` starts the system Chromium through the system chromedriver (``chromium`` and
``chromium-driver``, installed by ``scripts/provision-deps test``); Selenium never downloads a
browser. ``Console`` wraps the page: open it, enter credentials, pick an action, read what a
``data-testid`` element shows (``textContent``, so hidden code tabs read too), wait for a
condition. Nothing here reaches the server but through the page.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def make_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1500,1100", "--disable-extensions", "--no-first-run"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = make_browser()
    try:
        yield driver
    finally:
        driver.quit()


class Console:
    """The console page of one server, in one browser tab."""

    def __init__(self, driver, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url.rstrip("/")

    def open(self, path: str = "/console/") -> Console:
        self.driver.get(self.base_url + path)
        self.driver.execute_script("sessionStorage.clear()")
        self.driver.get(self.base_url + path)
        self.wait(lambda: self.driver.execute_script("return document.body.dataset.ready") == "true", what="page ready")
        return self

    def by_test_id(self, test_id: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, f'[data-testid="{test_id}"]')

    def all_by_test_id_prefix(self, prefix: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, f'[data-testid^="{prefix}"]')

    def exists(self, test_id: str) -> bool:
        return bool(self.all_by_test_id_prefix(test_id)) and any(
            e.get_attribute("data-testid") == test_id for e in self.all_by_test_id_prefix(test_id))

    def text(self, test_id: str) -> str:
        return self.by_test_id(test_id).get_attribute("textContent") or ""

    def value(self, test_id: str) -> str:
        return self.by_test_id(test_id).get_attribute("value") or ""

    def type(self, test_id: str, text: str, clear: bool = True) -> None:
        element = self.by_test_id(test_id)
        if clear:
            element.clear()
        element.send_keys(text)

    def click(self, test_id: str) -> None:
        element = self.by_test_id(test_id)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def login(self, secret_id: str, secret_key: str, region: str = "ap-guangzhou") -> None:
        self.type("credential-secret-id", secret_id)
        self.type("credential-secret-key", secret_key)
        self.type("region", region)

    def choose(self, action: str) -> None:
        self.type("action-search", action)
        self.click(f"action-{action}")
        self.wait(lambda: self.driver.find_element("id", "action-name").text.startswith(action), what=action)

    def wait(self, condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = condition()
            except Exception:
                result = None
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; console log: {self.log()}")
            time.sleep(0.1)

    def log(self) -> list[str]:
        try:
            return [entry["message"] for entry in self.driver.get_log("browser")]
        except Exception:
            return []
