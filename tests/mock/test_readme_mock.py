"""The documentation's mock-exist section (docs/mock-exist/) documents every flag, every control
endpoint and the state format."""

from __future__ import annotations

import re
from pathlib import Path

from mock_exist import create_app
from mock_exist.cli import build_parser
from mock_exist.control.faults import MODES

SECTION = Path(__file__).resolve().parents[2] / "docs" / "mock-exist"


def _section() -> str:
    """Every page of the section, one after the other."""
    pages = sorted(SECTION.glob("*.md"))
    assert len(pages) > 5
    return "\n\n".join(page.read_text(encoding="utf-8") for page in pages)


def test_every_flag_is_in_the_docs():
    section = _section()
    flags = {
        o
        for action in build_parser()._actions
        for o in action.option_strings
        if o.startswith("--") and o not in ("--help", "--version")
    }
    missing = sorted(f for f in flags if f"`{f}" not in section)
    assert missing == []


def test_every_control_route_is_in_the_docs():
    section = _section()
    routes = set()
    for rule in create_app().url_map.iter_rules():
        if rule.rule.startswith("/_mock/") and rule.rule != "/_mock/":
            routes.add(re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", "<id>", rule.rule[len("/_mock/") :]))
    missing = sorted(
        r
        for r in routes
        if not re.search(rf"[ `]{re.escape(r).replace('<id>', '<[a-z_]+>')}[`? (]", section)
    )
    assert missing == []
    assert "`/_mock/`" in section or "/_mock/` in a browser" in section


def test_state_format_and_fault_modes_are_documented():
    section = _section()
    assert '"format": "mock-exist-state"' in section and '"version": 1' in section
    missing = [m for m in MODES if f"`{m}`" not in section]
    assert missing == []
