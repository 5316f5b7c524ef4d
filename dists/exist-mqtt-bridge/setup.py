"""The extras, computed: ``demo`` pins mock-exist to this very version (both distributions are
built from one repository and released together), read from the VERSION file like the version."""

from pathlib import Path

from setuptools import setup

VERSION = Path(__file__).resolve().with_name("VERSION").read_text(encoding="utf-8").strip()

setup(
    extras_require={
        # `exist-bridge demo`: the emulator it runs the bridge against, and a broker where
        # mosquitto isn't installed
        "demo": [f"mock-exist=={VERSION}", "amqtt>=0.11"],
        # the embedded broker the demo falls back to when mosquitto isn't installed
        "broker": ["amqtt>=0.11"],
    }
)
