"""What docs/reference/status.md documents, for the tests that hold `status --json` to it."""

from __future__ import annotations

import re
from pathlib import Path


def documented_status_fields() -> set[str]:
    """The top-level fields the `status --json` table documents (docs/reference/status.md)."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "reference" / "status.md").read_text()
    table = text.split("| field | meaning |", 1)[1].split("\n\n", 1)[0]
    fields: set[str] = set()
    for line in table.splitlines()[2:]:
        first = line.split("|")[1]
        fields.update(re.findall(r"`([a-z_]+)`", first))
    return fields
