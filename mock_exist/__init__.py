"""mock_exist: an offline, stateful emulator of the Exist (exist.io) API v2.

The rules (``state``, ``store``, ``faults``, ``persistence``, ...) are plain Python; Flask is only
imported with ``create_app`` (the HTTP layer), so ``import mock_exist`` works without it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from .state import MockConfig, MockExist

if TYPE_CHECKING:
    from .app import create_app


def _version() -> str:
    """The installed distribution's version; in a checkout (the development workspace installs
    the code under another name), the repository's VERSION file: the one place it is kept."""
    try:
        return version("mock-exist")
    except PackageNotFoundError:
        try:
            return (Path(__file__).resolve().parents[1] / "VERSION").read_text("utf-8").strip()
        except OSError:  # a source tree without its VERSION file
            return "0.0.0+unknown"


__version__ = _version()
__all__ = ["create_app", "MockConfig", "MockExist", "__version__"]


def __getattr__(name: str):
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'mock_exist' has no attribute {name!r}")
