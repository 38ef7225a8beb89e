"""The model card and /docs in a real headless Chromium against a real functions-framework
server: the form's prediction equals the API's, /docs renders and its try-it call succeeds,
and no page breaks its Content-Security-Policy or reaches outside the function."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import CHROMEDRIVER, CHROMIUM, TIMEOUT, chromium
from tests.servers import Server, start_server


@pytest.fixture(scope="module")
def bundled() -> Iterator[Server]:
    running = start_server()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are missing: `make browser` installs them")
    with chromium() as driver:
        yield driver


def console_problems(driver: WebDriver) -> list[str]:
    """The console's errors (a CSP violation or a failed fetch shows up there)."""
    entries: list[dict[str, Any]] = driver.get_log("browser")
    return [e["message"] for e in entries if e["level"] in ("SEVERE", "WARNING")]


def outside_requests(driver: WebDriver, origin: str) -> list[str]:
    """Every resource the page loaded from anywhere but the function."""
    names: list[str] = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    return [name for name in names if not name.startswith(origin + "/")]


def test_the_card_form_predicts_what_the_api_answers(browser: WebDriver, bundled: Server) -> None:
    browser.get(bundled.url + "/")
    assert "breast-cancer" in browser.find_element(By.TAG_NAME, "h1").text
    field = browser.find_element(By.ID, "f-mean radius")
    field.clear()
    field.send_keys("17.5")
    curl = browser.find_element(By.ID, "curl").text
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, TIMEOUT).until(
        lambda d: d.find_element(By.ID, "prediction").text.startswith("Prediction")
    )

    # The form starts from the manifest's example row; one field changed.
    example = requests.get(bundled.url + "/", timeout=10).json()["example"]
    row = {**example, "mean radius": 17.5}
    expected = requests.post(
        bundled.url + "/", json={"instances": [row], "probabilities": True}, timeout=10
    ).json()
    shown = browser.find_element(By.ID, "prediction").text
    assert shown == f"Prediction: {expected['predictions'][0]}"
    cells = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#probabilities td")]
    assert cells == [
        value
        for label, p in zip(expected["classes"], expected["probabilities"][0], strict=True)
        for value in (str(label), f"{p:.4f}")
    ]
    assert '"mean radius":17.5' in curl
    assert curl.startswith(f"curl -X POST '{bundled.url}/'")
    assert console_problems(browser) == []
    assert outside_requests(browser, bundled.url) == []


def test_the_card_shows_an_error_answer(browser: WebDriver, bundled: Server) -> None:
    browser.get(bundled.url + "/")
    field = browser.find_element(By.ID, "f-mean texture")
    field.clear()
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, TIMEOUT).until(
        lambda d: d.find_element(By.ID, "prediction").text.startswith("Error")
    )

    names = requests.get(bundled.url + "/", timeout=10).json()["feature_names"]
    row = {name: "" if name == "mean texture" else 0 for name in names}
    answer = requests.post(
        bundled.url + "/", json={"instances": [row], "probabilities": True}, timeout=10
    )
    assert answer.status_code == 400
    shown = browser.find_element(By.ID, "prediction").text
    assert shown == f"Error 400: {answer.json()['error']}"
    assert [p for p in console_problems(browser) if "status of 400" not in p] == []


def test_docs_render_and_try_it_out_calls_this_function(
    browser: WebDriver, bundled: Server
) -> None:
    browser.get(bundled.url + "/docs")
    wait = WebDriverWait(browser, TIMEOUT)
    title = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".info .title"))
    assert "scikit-learn on Cloud Functions" in title[0].text
    browser.find_element(By.ID, "operations-default-health").find_element(
        By.CSS_SELECTOR, ".opblock-summary"
    ).click()
    execute = wait.until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#operations-default-health .execute")
    )
    execute[0].click()
    status = wait.until(
        lambda d: d.find_elements(
            By.CSS_SELECTOR,
            "#operations-default-health .live-responses-table tr.response .response-col_status",
        )
    )

    assert status[0].text.strip() == "200"
    body = browser.find_element(
        By.CSS_SELECTOR, "#operations-default-health .live-responses-table .microlight"
    ).text
    assert '"status": "ok"' in body
    assert console_problems(browser) == []
    assert outside_requests(browser, bundled.url) == []
