"""The README's set-up stays true: its test command is the one CI runs. (Its reference moved to
the documentation site: tests/docs/ checks the pages, the links into them and the generated
references.)"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_ci_runs_the_readmes_test_command():
    text = README.read_text()
    command = re.search(r"# 2\. run the tests.*\n(.+)\n", text).group(1).strip()
    ci = (README.parent / ".ci" / "run").read_text()
    assert command in ci.splitlines()


def test_ci_builds_the_documentation_strictly():
    ci = (README.parent / ".ci" / "run").read_text()
    assert re.search(r"^(NO_MKDOCS_2_WARNING=1 )?mkdocs build --strict\b", ci, re.M)
