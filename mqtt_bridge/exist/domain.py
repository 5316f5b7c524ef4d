"""Exist's rules, stated once (the spec: the Exist API v2 docs, ``reference/*.md``).

Plain data and one pure function; nothing here imports from ``mqtt_bridge``, so the config, the
mapping and the client can all take Exist's rules from here.
"""

from __future__ import annotations

import re
import unicodedata

# The attribute groups (reference/object_types.md; names as in the OAuth2 scopes).
GROUPS = (
    "activity",
    "productivity",
    "mood",
    "sleep",
    "workouts",
    "events",
    "finance",
    "food",
    "health",
    "location",
    "media",
    "social",
    "weather",
    "symptoms",
    "medication",
    "custom",
)

# The attribute value types (reference/object_types.md#attribute-value-types).
VALUE_TYPES = {
    0: "integer",
    1: "decimal",
    2: "string",
    3: "duration (minutes)",
    4: "time of day (minutes from midnight)",
    5: "percentage (0.0-1.0)",
    6: "time of day (minutes from midday)",
    7: "boolean (0/1)",
    8: "scale (1-9)",
}
STRING = 2  # the one value type that isn't a number
TEMPLATE_ONLY_TYPES = frozenset({6})  # minutes from midday: templates only, never created
CREATABLE_VALUE_TYPES = {k: v for k, v in VALUE_TYPES.items() if k not in TEMPLATE_ONLY_TYPES}
INTEGER_TYPES = frozenset({0, 3, 4, 6, 7, 8})  # Exist refuses floats (even 9.0) on these
NOT_INCREMENTABLE = frozenset({2, 4, 6, 8})  # Exist refuses increments on strings, times, scales

# Limits (reference/writing_data.md, attribute_ownership.md, important_values.md).
MAX_ITEMS_PER_REQUEST = 35  # objects in one update/increment/acquire/create request
MAX_REQUESTS_PER_HOUR = 300  # per user token

# An attribute's name: a simple ASCII identifier (reference/object_types.md#attributes).
ATTRIBUTE_NAME = re.compile(r"[a-z0-9_]+\Z")


def name_from_label(label: str) -> str:
    """The name Exist gives a custom attribute created with ``label``: the label "slugified"
    (guide/write_client.md: "Time reading" -> ``time_reading``). Only a prediction: the docs
    don't guarantee it (reference/creating_attributes.md), so read the real name back."""
    ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_label.lower()).strip("_")
