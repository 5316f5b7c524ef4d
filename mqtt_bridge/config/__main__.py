"""``python -m mqtt_bridge.config [--write FILE]``: the configuration reference of the docs."""

import sys

from .reference import main

sys.exit(main())
