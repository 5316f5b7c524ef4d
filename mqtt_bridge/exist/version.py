"""The package version and the ``User-Agent`` the Exist client sends."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "exist-mqtt-bridge"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"


def user_agent() -> str:
    """``exist-mqtt-bridge/<version>``: names the project to exist.io in every request."""
    return f"{DISTRIBUTION}/{__version__}"
