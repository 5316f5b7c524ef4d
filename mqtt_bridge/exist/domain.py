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
# The largest magnitude of a value sent to (or believed of) Exist. Exist documents no bound;
# this is an assumption (a 32-bit integer column: Exist refuses 2**31), far above any real day's
# total. The mapping refuses values beyond it (``out_of_range``), the client answers beyond it.
MAX_ABS_VALUE = 2**31 - 1
MAX_ITEMS_PER_REQUEST = 35  # objects in one update/increment/acquire/create request
MAX_REQUESTS_PER_HOUR = 300  # per user token


# The attribute templates and their value types (reference/object_types.md, "List of attribute
# templates"): names Exist knows without a custom attribute being created.
TEMPLATES: dict[str, int] = {
    "steps": 0,
    "steps_active_min": 3,
    "steps_elevation": 1,
    "floors": 0,
    "steps_distance": 1,
    "stand_hours": 0,
    "cycle_min": 3,
    "cycle_distance": 1,
    "active_energy": 1,
    "workouts": 0,
    "workouts_min": 3,
    "workouts_distance": 1,
    "productive_min": 3,
    "neutral_min": 3,
    "distracting_min": 3,
    "commits": 0,
    "tasks_completed": 0,
    "words_written": 0,
    "emails_sent": 0,
    "emails_received": 0,
    "pomodoros_min": 3,
    "keystrokes": 0,
    "coffees": 0,
    "alcoholic_drinks": 0,
    "energy": 1,
    "water": 0,
    "carbohydrates": 1,
    "fat": 1,
    "fibre": 1,
    "protein": 1,
    "sugar": 1,
    "sodium": 1,
    "cholesterol": 1,
    "caffeine": 1,
    "money_spent": 1,
    "mood": 8,
    "mood_note": 2,
    "energy_level": 8,
    "stress_level": 8,
    "sleep": 3,
    "time_in_bed": 3,
    "sleep_light": 3,
    "sleep_deep": 3,
    "sleep_rem": 3,
    "sleep_start": 6,
    "sleep_end": 4,
    "sleep_awakenings": 0,
    "events": 0,
    "events_duration": 3,
    "weight": 1,
    "body_fat": 5,
    "lean_mass": 1,
    "heartrate": 0,
    "heartrate_max": 0,
    "heartrate_variability": 0,
    "heartrate_resting": 0,
    "meditation_min": 3,
    "menstrual_flow": 0,
    "sexual_activity": 0,
    "checkins": 0,
    "location": 2,
    "tracks": 0,
    "articles_read": 0,
    "pages_read": 0,
    "mobile_screen_min": 3,
    "gaming_min": 3,
    "tv_min": 3,
    "movies_min": 3,
    "facebook_posts": 0,
    "facebook_comments": 0,
    "facebook_reactions": 0,
    "mastodon_posts": 0,
    "mastodon_replies": 0,
    "mastodon_boosts": 0,
    "mastodon_favourites": 0,
    "tweets": 0,
    "twitter_mentions": 0,
    "twitter_username": 2,
    "weather_temp_max": 1,
    "weather_temp_min": 1,
    "weather_precipitation": 1,
    "weather_cloud_cover": 5,
    "weather_wind_speed": 1,
    "weather_summary": 2,
    "weather_icon": 2,
    "day_length": 3,
}

# An attribute's name: a simple ASCII identifier (reference/object_types.md#attributes).
ATTRIBUTE_NAME = re.compile(r"[a-z0-9_]+\Z")


def name_from_label(label: str) -> str:
    """The name Exist gives a custom attribute created with ``label``: the label "slugified"
    (guide/write_client.md: "Time reading" -> ``time_reading``). Only a prediction: the docs
    don't guarantee it (reference/creating_attributes.md), so read the real name back."""
    ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_label.lower()).strip("_")
