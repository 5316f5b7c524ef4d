"""mock_exist: an offline, stateful emulator of the Exist (exist.io) API v2."""

from .app import create_app
from .state import MockConfig, MockExist

__version__ = "0.1.0"
__all__ = ["create_app", "MockConfig", "MockExist", "__version__"]
