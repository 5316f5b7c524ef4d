"""``python -m mqtt_bridge.config [--write README.md]``: the README's configuration reference."""

import sys

from .reference import main

sys.exit(main())
