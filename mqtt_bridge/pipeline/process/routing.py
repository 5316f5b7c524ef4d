"""Which mappings a topic feeds: MQTT topic-filter matching."""

from __future__ import annotations

from typing import Protocol, TypeVar


class Routable(Protocol):
    """Anything with a topic filter (a ``Mapping``)."""

    def matches(self, topic: str) -> bool: ...


R = TypeVar("R", bound=Routable)


def filter_matches(levels: list[str], topic: str) -> bool:
    """MQTT topic filter matching, exactly as paho's ``topic_matches_sub`` (its ``MQTTMatcher``
    walk for one filter): ``+`` is one level, a trailing ``#`` any number (also none: ``a/#``
    matches ``a``), and neither wildcard matches a ``$`` topic at the first level."""
    parts = topic.split("/")
    normal = not topic.startswith("$")
    last = len(levels) - 1
    for i, part in enumerate(parts):
        if i > last:
            return False
        level = levels[i]
        if level == "#" and i == last and (normal or i > 0):
            return True
        if level != part and (level != "+" or not (normal or i > 0)):
            return False
    n = len(parts)
    if n == last + 1:
        return True
    return n == last and levels[n] == "#" and (normal or n > 0)


def route(mappings: list[R], topic: str) -> list[R]:
    """Every mapping whose topic filter matches ``topic`` (a message may feed several)."""
    return [m for m in mappings if m.matches(topic)]
