"""Why messages were skipped, counted per mapping: ``skipped.<index>.<reason>`` counters in the
outbox (kept across restarts), shown by ``exist-bridge status`` and the status page.

A reason is a short category of the evaluation's ``skipped`` text: ``condition false``,
``condition undefined``, ``no edge`` (an edge mapping's message that is not the edge, or the
first of its topic), ``retained`` (a retained snapshot), ``unavailable`` (Home Assistant's
no-reading states), else the text before any parenthesis (``baseline``, ``no increase``, ...).
"""

from __future__ import annotations

PREFIX = "skipped."  # the counters' names: skipped.<mapping index>.<reason>
NO_EDGE = ("no previous state", "not an edge")


def reason(skipped: str | None) -> str:
    """The category of an evaluation's ``skipped`` text."""
    text = (skipped or "no effect").strip()
    if text in NO_EDGE:
        return "no edge"
    if "retained" in text:
        return "retained"
    return text.split(" (", 1)[0] or "no effect"


def counter(index: int, skipped: str | None) -> str:
    """The counter's name for one message mapping ``index`` skipped."""
    return f"{PREFIX}{index}.{reason(skipped)}"


def by_mapping(counters: dict[str, int]) -> dict[int, dict[str, int]]:
    """The outbox's counters as {mapping index: {reason: count}}, reasons most frequent first."""
    found: dict[int, dict[str, int]] = {}
    for name, n in counters.items():
        if not name.startswith(PREFIX):
            continue
        index, _, why = name[len(PREFIX) :].partition(".")
        if index.isdigit() and why:
            found.setdefault(int(index), {})[why] = n
    return {
        i: dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
        for i, reasons in sorted(found.items())
    }


def describe(reasons: dict[str, int]) -> str:
    """``condition false 3, retained 1``."""
    return ", ".join(f"{why} {n}" for why, n in reasons.items())
