"""Moved to ``tests.support.proxy``; kept only so older imports keep working."""

from ..support.proxy import DownableProxy  # noqa: F401
