"""The attribute groups and the 86 attribute templates of Exist's ``reference/object_types.md``.

Names, groups and value types are copied from the docs' table. Labels are the docs' where the docs
show one ("Steps", "Active minutes", "Time asleep", "Tracks played", "Facebook reactions"), otherwise
our own wording. Template priorities are their order within the group in the docs' table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Group:
    name: str
    label: str
    priority: int

    def to_json(self) -> dict:
        return {"name": self.name, "label": self.label, "priority": self.priority}


@dataclass(frozen=True)
class Template:
    name: str
    label: str
    group: str
    value_type: int
    priority: int


# Group names match the OAuth2 scopes (``<group>_read`` / ``<group>_write``). Priorities shown in the
# docs: activity 1, sleep 3, media 7, social 7; the rest are assumed. "twitter" has templates in the
# docs but no scope of its own: we treat it as covered by the social scopes (assumed).
GROUPS: dict[str, Group] = {
    g.name: g
    for g in [
        Group("activity", "Activity", 1),
        Group("productivity", "Productivity", 2),
        Group("sleep", "Sleep", 3),
        Group("mood", "Mood", 4),
        Group("workouts", "Workouts", 5),
        Group("events", "Events", 6),
        Group("media", "Media", 7),
        Group("social", "Social", 7),
        Group("twitter", "Twitter", 8),
        Group("food", "Food and drink", 9),
        Group("health", "Health and body", 10),
        Group("finance", "Finance", 11),
        Group("location", "Location", 12),
        Group("weather", "Weather", 13),
        Group("symptoms", "Symptoms", 14),
        Group("medication", "Medication", 15),
        Group("custom", "Custom tags", 16),
    ]
}

SCOPE_GROUP: dict[str, str] = {name: name for name in GROUPS}
SCOPE_GROUP["twitter"] = "social"

TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in [
        Template("steps", "Steps", "activity", 0, 1),  # Integer
        Template(
            "steps_active_min", "Active minutes", "activity", 3, 2
        ),  # Period (minutes as integer)
        Template("steps_elevation", "Elevation", "activity", 1, 3),  # Float (km)
        Template("floors", "Floors climbed", "activity", 0, 4),  # Integer
        Template("steps_distance", "Distance", "activity", 1, 5),  # Float (km)
        Template("stand_hours", "Stand hours", "activity", 0, 6),  # Integer
        Template("cycle_min", "Time cycling", "activity", 3, 7),  # Period (minutes as integer)
        Template("cycle_distance", "Distance cycled", "activity", 1, 8),  # Float (km)
        Template("active_energy", "Active energy", "activity", 1, 9),  # Float (kJ)
        Template("workouts", "Workouts", "workouts", 0, 1),  # Integer
        Template("workouts_min", "Workout time", "workouts", 3, 2),  # Period (minutes as integer)
        Template("workouts_distance", "Workout distance", "workouts", 1, 3),  # Float (km)
        Template(
            "productive_min", "Productive time", "productivity", 3, 1
        ),  # Period (minutes as integer)
        Template(
            "neutral_min", "Neutral time", "productivity", 3, 2
        ),  # Period (minutes as integer)
        Template(
            "distracting_min", "Distracting time", "productivity", 3, 3
        ),  # Period (minutes as integer)
        Template("commits", "Commits", "productivity", 0, 4),  # Integer
        Template("tasks_completed", "Tasks completed", "productivity", 0, 5),  # Integer
        Template("words_written", "Words written", "productivity", 0, 6),  # Integer
        Template("emails_sent", "Emails sent", "productivity", 0, 7),  # Integer
        Template("emails_received", "Emails received", "productivity", 0, 8),  # Integer
        Template(
            "pomodoros_min", "Pomodoro time", "productivity", 3, 9
        ),  # Period (minutes as integer)
        Template("keystrokes", "Keystrokes", "productivity", 0, 10),  # Integer
        Template("coffees", "Coffees", "food", 0, 1),  # Integer
        Template("alcoholic_drinks", "Alcoholic drinks", "food", 0, 2),  # Integer
        Template("energy", "Energy consumed", "food", 1, 3),  # Float (kJ)
        Template("water", "Water", "food", 0, 4),  # Integer (ml)
        Template("carbohydrates", "Carbohydrates", "food", 1, 5),  # Float (g)
        Template("fat", "Fat", "food", 1, 6),  # Float (g)
        Template("fibre", "Fibre", "food", 1, 7),  # Float (g)
        Template("protein", "Protein", "food", 1, 8),  # Float (g)
        Template("sugar", "Sugar", "food", 1, 9),  # Float (g)
        Template("sodium", "Sodium", "food", 1, 10),  # Float (mg)
        Template("cholesterol", "Cholesterol", "food", 1, 11),  # Float (mg)
        Template("caffeine", "Caffeine", "food", 1, 12),  # Float (mg)
        Template(
            "money_spent", "Money spent", "finance", 1, 1
        ),  # Float (user's local currency unit)
        Template("mood", "Mood", "mood", 8, 1),  # Integer scale (between 1 and 9)
        Template("mood_note", "Mood note", "mood", 2, 2),  # String (max 1000 characters)
        Template("energy_level", "Energy", "mood", 8, 3),  # Integer scale (between 1 and 9)
        Template("stress_level", "Stress", "mood", 8, 4),  # Integer scale (between 1 and 9)
        Template("sleep", "Time asleep", "sleep", 3, 1),  # Period (minutes as integer)
        Template("time_in_bed", "Time in bed", "sleep", 3, 2),  # Period (minutes as integer)
        Template("sleep_light", "Light sleep", "sleep", 3, 3),  # Period (minutes as integer)
        Template("sleep_deep", "Deep sleep", "sleep", 3, 4),  # Period (minutes as integer)
        Template("sleep_rem", "REM sleep", "sleep", 3, 5),  # Period (minutes as integer)
        Template(
            "sleep_start", "Bedtime", "sleep", 6, 6
        ),  # Time of day (minutes from midday as integer)
        Template(
            "sleep_end", "Wake time", "sleep", 4, 7
        ),  # Time of day (minutes from midnight as integer)
        Template("sleep_awakenings", "Awakenings", "sleep", 0, 8),  # Integer
        Template("events", "Events", "events", 0, 1),  # Integer
        Template(
            "events_duration", "Time in events", "events", 3, 2
        ),  # Period (minutes as integer)
        Template("weight", "Weight", "health", 1, 1),  # Float (kg)
        Template("body_fat", "Body fat", "health", 5, 2),  # Float (percentage, 0.0 to 1.0)
        Template("lean_mass", "Lean mass", "health", 1, 3),  # Float (kg)
        Template("heartrate", "Heart rate", "health", 0, 4),  # Integer
        Template("heartrate_max", "Max heart rate", "health", 0, 5),  # Integer
        Template("heartrate_variability", "Heart rate variability", "health", 0, 6),  # Integer
        Template("heartrate_resting", "Resting heart rate", "health", 0, 7),  # Integer
        Template("meditation_min", "Meditation", "health", 3, 8),  # Period (minutes as integer)
        Template(
            "menstrual_flow", "Menstrual flow", "health", 0, 9
        ),  # Integer (`0`=none, `1`=spotting, `2`=light, `3`=medium, `4`=heavy)
        Template("sexual_activity", "Sexual activity", "health", 0, 10),  # Integer
        Template("checkins", "Check-ins", "location", 0, 1),  # Integer
        Template(
            "location", "Location", "location", 2, 2
        ),  # String (`"lat,lng"` format where `lat` and `lng` are floats)
        Template("tracks", "Tracks played", "media", 0, 1),  # Integer
        Template("articles_read", "Articles read", "media", 0, 2),  # Integer
        Template("pages_read", "Pages read", "media", 0, 3),  # Integer
        Template("mobile_screen_min", "Screen time", "media", 3, 4),  # Period (minutes as integer)
        Template("gaming_min", "Time gaming", "media", 3, 5),  # Period (minutes as integer)
        Template("tv_min", "Time watching TV", "media", 3, 6),  # Period (minutes as integer)
        Template(
            "movies_min", "Time watching movies", "media", 3, 7
        ),  # Period (minutes as integer)
        Template("facebook_posts", "Facebook posts", "social", 0, 1),  # Integer
        Template("facebook_comments", "Facebook comments", "social", 0, 2),  # Integer
        Template("facebook_reactions", "Facebook reactions", "social", 0, 3),  # Integer
        Template("mastodon_posts", "Mastodon posts", "social", 0, 4),  # Integer
        Template("mastodon_replies", "Mastodon replies", "social", 0, 5),  # Integer
        Template("mastodon_boosts", "Mastodon boosts", "social", 0, 6),  # Integer
        Template("mastodon_favourites", "Mastodon favourites", "social", 0, 7),  # Integer
        Template("tweets", "Tweets", "twitter", 0, 1),  # Integer
        Template("twitter_mentions", "Twitter mentions", "twitter", 0, 2),  # Integer
        Template("twitter_username", "Twitter username", "twitter", 2, 3),  # String
        Template("weather_temp_max", "Max temp", "weather", 1, 1),  # Float (degrees Celsius)
        Template("weather_temp_min", "Min temp", "weather", 1, 2),  # Float (degrees Celsius)
        Template(
            "weather_precipitation", "Precipitation", "weather", 1, 3
        ),  # Float (inches of water per hour)
        Template(
            "weather_cloud_cover", "Cloud cover", "weather", 5, 4
        ),  # Float (percentage of sky covered, 0.0 to 1.0)
        Template("weather_wind_speed", "Wind speed", "weather", 1, 5),  # Float (km/hr)
        Template("weather_summary", "Weather summary", "weather", 2, 6),  # String
        Template(
            "weather_icon", "Weather icon", "weather", 2, 7
        ),  # String (name of icon best representing weather values)
        Template("day_length", "Day length", "weather", 3, 8),  # Period (minutes as integer)
    ]
}

VALUE_TYPE_DESCRIPTIONS: dict[int, str] = {
    0: "Integer",
    1: "Decimal",
    2: "String",
    3: "Period (min)",
    4: "Time of day (min from midnight)",
    5: "Percentage",
    6: "Time of day (min from midday)",
    7: "Boolean",
    8: "Scale (1-9)",
}
