"""Moved to ``tests.support.faults``; kept only so older imports keep working."""

from ..support.faults import *  # noqa: F403
from ..support.faults import __all__  # noqa: F401
