"""mock_exist: an offline, stateful emulator of the Exist (exist.io) API v2.

The rules (``state``, ``store``, ``faults``, ``persistence``, ...) are plain Python; Flask is only
imported with ``create_app`` (the HTTP layer), so ``import mock_exist`` works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .state import MockConfig, MockExist

if TYPE_CHECKING:
    from .app import create_app

__version__ = "0.1.0"
__all__ = ["create_app", "MockConfig", "MockExist", "__version__"]


def __getattr__(name: str):
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'mock_exist' has no attribute {name!r}")
