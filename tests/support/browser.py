"""A real headless browser for tests: Debian's ``chromium`` driven by selenium through Debian's
``chromedriver`` (``apt-get install chromium chromium-driver``; ``.ci/run`` installs them). No
browser is ever downloaded: selenium is given both binaries' paths."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1200,1000",
)


def _find(names: tuple[str, ...]) -> str:
    for name in names:
        found = shutil.which(name) or (name if os.access(name, os.X_OK) else None)
        if found:
            return found
    raise RuntimeError(
        f"{names[0]} is not installed (apt-get install chromium chromium-driver; .ci/run does)"
    )


@contextlib.contextmanager
def chromium(profile_dir: Path) -> Iterator:
    """A headless Chromium with a fresh profile in ``profile_dir``, quit afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _find(("chromium", "/usr/bin/chromium", "chromium-browser"))
    for flag in FLAGS:
        options.add_argument(flag)
    profile_dir.mkdir(parents=True, exist_ok=True)
    options.add_argument(f"--user-data-dir={profile_dir}")
    service = Service(executable_path=_find(("chromedriver", "/usr/bin/chromedriver")))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def keep_artifact(path: Path) -> Path:
    """Copy a test artifact (a screenshot) to ``test-artifacts/`` at the project root
    (git-ignored), where it stays after pytest's temporary directories are gone."""
    target_dir = Path(__file__).resolve().parents[2] / "test-artifacts"
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    shutil.copyfile(path, target)
    return target
