"""The `exist-bridge demo` command: the emulator, a broker, the bridge and simulated devices."""

from .demo import run_demo

__all__ = ["run_demo"]
