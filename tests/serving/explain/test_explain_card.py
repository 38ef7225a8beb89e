"""The model card's explanation chart in a real headless Chromium, against a real server: after
the form predicts, an inline SVG shows one bar per feature (the largest first) with the values
the API answers for that row, under the page's unchanged Content-Security-Policy."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from serving.html_page import CSP
from tests.serving.test_browser import console_problems, outside_requests
from tests.support.browser import TIMEOUT, chromium, missing_chromium
from tests.support.explain_cases import package_served
from tests.support.servers import Server, start_server


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    is_root = os.geteuid() == 0
    reason = missing_chromium(is_root)
    if reason:
        (pytest.fail if is_root else pytest.skip)(reason)
    with chromium() as driver:
        yield driver


@pytest.fixture(
    scope="module", params=["random_forest_classifier", "hist_gradient_boosting_regressor"]
)
def explained(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    folder: Path = package_served(request.param, tmp_path_factory.mktemp(request.param))
    server = start_server({"MODEL_URI": str(folder)})
    try:
        yield server
    finally:
        server.stop()


def test_the_card_draws_the_rows_contributions(browser: WebDriver, explained: Server) -> None:
    page = requests.get(explained.url + "/", headers={"Accept": "text/html"}, timeout=10)
    browser.get(explained.url + "/")
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, TIMEOUT).until(lambda d: d.find_elements(By.ID, "explanation-chart"))

    metadata = requests.get(explained.url + "/", timeout=10).json()
    answer = requests.post(
        explained.url + "/", json={"instances": [metadata["example"]], "explain": True}, timeout=10
    ).json()
    explanation = answer["explanations"]
    row = explanation["rows"][0]
    if "classes" in explanation:  # the predicted class's contributions
        label = str(answer["predictions"][0])
        contributions, base = row["contributions"][label], row["base_value"][label]
    else:
        contributions, base = row["contributions"], row["base_value"]
    bars = browser.find_elements(By.CSS_SELECTOR, "#explanation-chart rect.bar")
    drawn = {
        bar.get_attribute("data-feature"): float(bar.get_attribute("data-value")) for bar in bars
    }
    largest = sorted(contributions, key=lambda name: -abs(contributions[name]))
    caption = browser.find_element(By.ID, "explanation-caption").text

    assert page.headers["Content-Security-Policy"] == CSP
    assert [bar.get_attribute("data-feature") for bar in bars] == largest  # five features
    assert drawn == pytest.approx(contributions, abs=1e-12)
    for bar in bars:
        assert ("negative" in bar.get_attribute("class")) == (
            float(bar.get_attribute("data-value")) < 0
        )
    assert f"base value {base:.4g}" in caption
    assert explanation["output"] in caption
    assert console_problems(browser) == []
    assert outside_requests(browser, explained.url) == []
