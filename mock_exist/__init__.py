"""mock_exist: an offline, stateful emulator of the Exist (exist.io) API v2.

Three rooms, each importing only the ones before it:

- ``rules/``: what exist.io enforces (the store of users, attributes and values, the catalog of
  templates, value types, OAuth2, the rate limit, paging, the clock, the ledger of changes, the
  wire errors), in plain Python;
- ``control/``: how a test steers and watches one mock (``MockExist``, the Python control API, in
  ``python_api.py``; fault rules, the request journal, state files, the checks of control input),
  in plain Python;
- ``http/``: Flask (the ``create_app`` factory, the blueprints of ``/api/2/``, ``/oauth2/`` and
  ``/_mock/``, request parsing, what a fault puts on the wire, the HTML templates).

At the top: ``server`` (waitress in a thread), ``cli`` (``mock-exist``), ``pytest_plugin`` and
``conformance`` (a client of any Exist API). Flask is only imported with ``create_app``, so
``import mock_exist`` works without it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from .control.python_api import MockConfig, MockExist

if TYPE_CHECKING:
    from .http.app import create_app


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
        from .http.app import create_app

        return create_app
    raise AttributeError(f"module 'mock_exist' has no attribute {name!r}")
