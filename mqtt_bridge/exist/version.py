"""The package version and the ``User-Agent`` the Exist client sends."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DISTRIBUTION = "exist-mqtt-bridge"


def _version() -> str:
    """The installed distribution's version; in a checkout (the development workspace installs
    the code under another name), the repository's VERSION file: the one place it is kept."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        checkout = Path(__file__).resolve().parents[2] / "VERSION"
        try:
            return checkout.read_text(encoding="utf-8").strip()
        except OSError:  # a source tree without its VERSION file
            return "0.0.0+unknown"


__version__ = _version()


def user_agent() -> str:
    """``exist-mqtt-bridge/<version>``: names the project to exist.io in every request."""
    return f"{DISTRIBUTION}/{__version__}"
