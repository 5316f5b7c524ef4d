"""Averages, insights and correlations: exist.io computes them weekly and daily from months of
data; the mock serves the ones a test seeds (``MockExist.seed_average``, ``seed_insight``,
``seed_correlation``) with the documented filters (``reference/averages.md``, ``insights.md``,
``correlations.md``), and none otherwise."""

from __future__ import annotations

from datetime import date

from .errors import BadRequest, ValidationFailed
from .oauth import can_read
from .store import Actor, Store, _csv, _flag
from .value_types import parse_date

STRONG = 50.0  # "above a certain relationship strength": the docs give no number (assumed)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day(params: dict[str, str], key: str) -> date | None:
    raw = params.get(key)
    if not raw:
        return None
    try:
        return parse_date(raw)
    except ValidationFailed:
        raise BadRequest(f"{key} must be a date in format YYYY-mm-dd") from None


def _within(day: str, params: dict[str, str]) -> bool:
    low, high = _day(params, "date_min"), _day(params, "date_max")
    when = date.fromisoformat(day)
    return (low is None or when >= low) and (high is None or when <= high)


def averages(store: Store, actor: Actor, params: dict[str, str]) -> list[dict]:
    """``averages/``: the latest record of each readable attribute, filtered by ``attributes``,
    ``groups``, ``date_min`` and ``date_max``."""
    user = store.user(actor.username)
    names, groups = _csv(params, "attributes"), _csv(params, "groups")
    out = []
    for name, record in sorted(user.averages.items()):
        attr = user.attributes.get(name)
        if attr is None or not can_read(actor.scopes, attr.group, attr.manual):
            continue
        chosen = (names is None or name in names) and (groups is None or attr.group in groups)
        if chosen and _within(record["date"], params):
            out.append(dict(record))
    return out


def insights(store: Store, actor: Actor, params: dict[str, str]) -> list[dict]:
    """``insights/``: newest first, filtered by ``date_min``/``date_max`` (on ``target_date``)
    and ``priority``; an insight about an attribute the token may not read is left out."""
    user = store.user(actor.username)
    priority = params.get("priority")
    out = []
    newest = sorted(user.insights, key=lambda r: (r["target_date"], r["created"]), reverse=True)
    for record in newest:
        about = record["type"].get("attribute")
        attr = user.attributes.get(about["name"]) if about else None
        if attr is not None and not can_read(actor.scopes, attr.group, attr.manual):
            continue
        if priority and str(record["type"]["priority"]) != priority:
            continue
        if _within(record["target_date"], params):
            out.append(record)
    return out


def correlations(store: Store, actor: Actor, params: dict[str, str]) -> list[dict]:
    """``correlations/``: the seeded ones the token may read (both attributes), filtered by
    ``strong`` (``percentage`` at least ``STRONG``), ``confident`` (five stars) and
    ``attribute`` (either side)."""
    user = store.user(actor.username)
    strong, confident = _flag(params, "strong"), _flag(params, "confident")
    about = params.get("attribute")
    out = []
    for record in user.correlations:
        pair = [user.attributes.get(record["attribute"]), user.attributes.get(record["attribute2"])]
        if any(a is not None and not can_read(actor.scopes, a.group, a.manual) for a in pair):
            continue
        if strong and record["percentage"] < STRONG or confident and record["stars"] != 5:
            continue
        if about and about not in (record["attribute"], record["attribute2"]):
            continue
        out.append(record)
    return out
