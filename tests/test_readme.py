"""The README stays true: its configuration reference is the schema's, its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from mqtt_bridge.config.reference import END, START, reference_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_configuration_reference_matches_the_schema():
    text = README.read_text()
    section = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert section == reference_table(), (
        "README's configuration reference is stale: run "
        "`python -m mqtt_bridge.config --write README.md`"
    )


def test_ci_runs_the_readmes_test_command():
    text = README.read_text()
    command = re.search(r"# 2\. run the tests.*\n(.+)\n", text).group(1).strip()
    ci = (README.parent / ".ci" / "run").read_text()
    assert command in ci.splitlines()
