"""Headless Chromium from the distribution (installed by `make test` as root), driven by Selenium.

Run as a script to save docs/request-formats.md's screenshot of the model card:
    .venv/bin/python -m tests.support.browser card.png
"""

from __future__ import annotations

import base64
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
HOW_TO_INSTALL = "`sudo make browser` installs it"
# No background connections: the machine's network is closed and the pages need none.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1000,1000",
)
TIMEOUT = 20.0


def missing_chromium(is_root: bool) -> str | None:
    """Why the browser tests cannot run here, or None when Chromium and its driver are there.

    Only root can install them (`make test` does, as CI does): as root their absence is a
    failure, for anyone else a reason to skip that says how to install them.
    """
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return None
    if is_root:
        return f"{CHROMIUM} and {CHROMEDRIVER} are missing, though `make test` runs as root"
    return f"Chromium is not installed: {HOW_TO_INSTALL}"


@contextmanager
def chromium() -> Iterator[WebDriver]:
    """A fresh headless Chromium (new profile folder), quit on exit."""
    # Never let Selenium Manager look for a driver online: the paths are given.
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        driver.set_page_load_timeout(TIMEOUT)
        try:
            yield driver
        finally:
            driver.quit()


def save_card_screenshot(target: Path) -> None:
    """Start the function on the bundled model, predict the prefilled row, save the card."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.support.servers import start_server

    server = start_server()
    try:
        with chromium() as driver:
            driver.get(server.url + "/")
            driver.find_element(By.ID, "submit").click()
            WebDriverWait(driver, TIMEOUT).until(
                lambda d: d.find_element(By.ID, "prediction").text.startswith("Prediction")
            )
            size = driver.execute_script(
                "const e = document.documentElement; return [e.scrollWidth, e.scrollHeight]"
            )
            clip = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
            shot = driver.execute_cdp_cmd(
                "Page.captureScreenshot", {"captureBeyondViewport": True, "clip": clip}
            )
            save_small_png(base64.b64decode(shot["data"]), target)
    finally:
        server.stop()


def save_small_png(png: bytes, target: Path) -> None:
    """The screenshot with a 64-colour palette: a page of text and flat colours stays legible
    at a fraction of the bytes (Pillow comes with matplotlib, a dev dependency)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        small = image.convert("RGB").quantize(colors=64)
        small.save(target, optimize=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.support.browser OUTPUT.png")
    save_card_screenshot(Path(sys.argv[1]))
