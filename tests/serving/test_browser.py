"""The model card and /docs in a real headless Chromium against a real functions-framework
server: the form's prediction equals the API's, /docs renders and its try-it call succeeds,
and no page breaks its Content-Security-Policy or reaches outside the function."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.browser import TIMEOUT, chromium, missing_chromium
from tests.support.fixture_types import TrainModel
from tests.support.servers import Server, start_server

PROTOTYPE_NAMES = ("__proto__", "constructor", "toString", "hasOwnProperty", "valueOf")


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """Chromium, or a skip saying how to install it (a failure as root: `make test` installs
    it there, as in CI)."""
    is_root = os.geteuid() == 0
    reason = missing_chromium(is_root)
    if reason:
        (pytest.fail if is_root else pytest.skip)(reason)
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def prototype_named(
    train_model: TrainModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A model whose features are named like the properties every JavaScript object has."""
    data = tmp_path_factory.mktemp("prototype-names") / "data.csv"
    frame = pd.DataFrame(
        np.random.default_rng(0).normal(size=(80, len(PROTOTYPE_NAMES))), columns=PROTOTYPE_NAMES
    )
    frame["label"] = np.where(frame["__proto__"] + frame["valueOf"] > 0, "yes", "no")
    frame.to_csv(data, index=False)
    running = start_server(
        {"MODEL_URI": str(train_model("--data", str(data), "--target", "label"))}
    )
    try:
        yield running
    finally:
        running.stop()


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


def test_the_card_form_predicts_what_the_api_answers(
    browser: WebDriver, bundled_server: Server
) -> None:
    browser.get(bundled_server.url + "/")
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
    example = requests.get(bundled_server.url + "/", timeout=10).json()["example"]
    row = {**example, "mean radius": 17.5}
    expected = requests.post(
        bundled_server.url + "/", json={"instances": [row], "probabilities": True}, timeout=10
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
    assert curl.startswith(f"curl -X POST '{bundled_server.url}/'")
    assert console_problems(browser) == []
    assert outside_requests(browser, bundled_server.url) == []


def test_the_card_shows_an_error_answer(browser: WebDriver, bundled_server: Server) -> None:
    browser.get(bundled_server.url + "/")
    field = browser.find_element(By.ID, "f-mean texture")
    field.clear()
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, TIMEOUT).until(
        lambda d: d.find_element(By.ID, "prediction").text.startswith("Error")
    )

    names = requests.get(bundled_server.url + "/", timeout=10).json()["feature_names"]
    row = {name: "" if name == "mean texture" else 0 for name in names}
    answer = requests.post(
        bundled_server.url + "/", json={"instances": [row], "probabilities": True}, timeout=10
    )
    assert answer.status_code == 400
    shown = browser.find_element(By.ID, "prediction").text
    assert shown == f"Error 400: {answer.json()['error']}"
    # The card's one row is row 1, as every message counts rows.
    assert shown.startswith("Error 400: row 1, feature 'mean texture': expected a number")
    assert [p for p in console_problems(browser) if "status of 400" not in p] == []


def test_docs_render_and_try_it_out_calls_this_function(
    browser: WebDriver, bundled_server: Server
) -> None:
    browser.get(bundled_server.url + "/docs")
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
    assert outside_requests(browser, bundled_server.url) == []


def predict_with_the_form(browser: WebDriver, url: str) -> str:
    """The card's prediction for its prefilled row, as the page shows it."""
    browser.get(url + "/")
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, TIMEOUT).until(
        lambda d: d.find_element(By.ID, "prediction").text.startswith(("Prediction", "Error"))
    )
    return str(browser.find_element(By.ID, "prediction").text)


def test_features_named_like_javascripts_own_properties_are_sent_as_features(
    browser: WebDriver, prototype_named: Server
) -> None:
    """Issue 26 item 10: `row["__proto__"] = ...` set the row's prototype, and the request
    lacked that feature."""
    example = requests.get(prototype_named.url + "/", timeout=10).json()["example"]
    assert set(example) == set(PROTOTYPE_NAMES)
    expected = requests.post(
        prototype_named.url + "/", json={"instances": [example], "probabilities": True}, timeout=10
    ).json()
    assert predict_with_the_form(browser, prototype_named.url) == (
        f"Prediction: {json.dumps(expected['predictions'][0])}"
    )
    curl = browser.find_element(By.ID, "curl").text
    assert all(f'"{name}":' in curl for name in PROTOTYPE_NAMES)
    assert console_problems(browser) == []


def test_the_docs_with_a_trailing_slash_render_at_docs(
    browser: WebDriver, bundled_server: Server
) -> None:
    """Issue 26 item 10: /docs/ served the page, whose relative assets then were 404s."""
    browser.get(bundled_server.url + "/docs/")
    wait = WebDriverWait(browser, TIMEOUT)
    title = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".info .title"))
    assert "scikit-learn on Cloud Functions" in title[0].text
    assert browser.current_url == bundled_server.url + "/docs"
    assert console_problems(browser) == []
