"""A real headless browser for tests: Debian's ``chromium`` driven by selenium.

Reusable by any test that shows a page (the mock's dashboard, an add-on status page)::

    from tests.support.browser import chromium, console_errors, screenshot

    def test_page(tmp_path):
        with chromium(tmp_path) as driver:
            driver.get(url)
            screenshot(driver, tmp_path, "page")
            assert console_errors(driver) == []

Pictures the documentation shows are taken with ``docs_screenshot``: they land in
``docs/assets/screenshots/`` only when ``UPDATE_DOCS_SCREENSHOTS=1`` (see
docs/project/contributing.md), so an ordinary run never changes a committed file.

Only the system's browser is used (``/usr/bin/chromium`` with ``/usr/bin/chromedriver``, from
``apt-get install chromium chromium-driver``, as ``.ci/run`` does); nothing is ever downloaded.
Each browser gets a fresh profile directory. Screenshots go to the test's ``tmp_path`` and are
copied to ``test-artifacts/`` at the repository root (ignored by git) to look at afterwards.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .extras import skip_or_fail

CHROMIUM = Path(os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("TEST_CHROMEDRIVER", "/usr/bin/chromedriver"))
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "assets" / "screenshots"


def missing() -> str | None:
    """Why no browser can run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install -e '.[dev]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} not found (apt-get install {package})"
    return None


def require_browser() -> None:
    """Skip when no browser is installed, except in CI (``CI=true``), where that is a failure:
    ``.ci/run`` installs it, so a missing browser there is a broken set-up, not a pass."""
    reason = missing()
    if reason is not None:
        skip_or_fail(f"no headless browser: {reason}")


@contextmanager
def chromium(tmp_path: Path, width: int = 1280, height: int = 1400) -> Iterator:
    """A selenium ``webdriver.Chrome`` on the system's chromium, headless, fresh profile,
    console messages recorded (see ``console_errors``); quit on exit."""
    require_browser()
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium manager: never fetch anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "driver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver) -> list[dict]:  # noqa: ANN001
    """The browser console's SEVERE entries (JavaScript errors, failed loads) since last read."""
    return [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def screenshot(driver, tmp_path: Path, name: str) -> Path:  # noqa: ANN001
    """Save a full-window PNG in ``tmp_path`` and copy it to ``test-artifacts/``; its path."""
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"screenshot {name} failed"
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy2(path, ARTIFACTS / path.name)
    return path


def docs_screenshot(driver, tmp_path: Path, name: str) -> Path:  # noqa: ANN001
    """A screenshot the documentation shows as ``docs/assets/screenshots/NAME.png``: taken like
    ``screenshot``, and copied over the documentation's picture when the environment has
    ``UPDATE_DOCS_SCREENSHOTS=1``; its path."""
    path = screenshot(driver, tmp_path, name)
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, DOCS_SCREENSHOTS / path.name)
    return path
