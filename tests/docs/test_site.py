"""The site's shape: every page in the nav, the README a front door whose set-up commands are
the demo page's, the pictures taken by tests, and the configuration examples valid."""

from __future__ import annotations

import re
import struct

import pytest

from mqtt_bridge.config import parse_config

from ..support.docs_site import DOCS, ROOT, nav_pages, page_source, pages

SHOTS = DOCS / "assets" / "screenshots"
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page():
    on_disk = {p.relative_to(DOCS).as_posix() for p in pages()}
    listed = nav_pages()
    assert sorted(on_disk - set(listed)) == []
    assert sorted(set(listed) - on_disk) == []
    assert len(listed) == len(set(listed))


def test_the_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150


def setup_block(text: str) -> str:
    return text.split("## Set-up on a fresh machine", 1)[1].split("```sh\n", 1)[1].split("```")[0]


def test_the_readme_and_the_demo_page_give_the_same_two_set_up_commands():
    readme = setup_block((ROOT / "README.md").read_text(encoding="utf-8"))
    page = setup_block((DOCS / "get-started" / "demo.md").read_text(encoding="utf-8"))
    assert readme == page
    commands = [line for line in readme.splitlines() if line and not line.startswith("#")]
    assert commands[:2] == [
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[dev]' "
        "&& exist-bridge demo",
        "python -m pytest",
    ]


def shown_pictures() -> dict[str, list[str]]:
    """Picture file name -> the pages showing it."""
    shown: dict[str, list[str]] = {}
    for page in pages():
        for target in IMAGE.findall(page.read_text(encoding="utf-8")):
            picture = (page.parent / target).resolve()
            assert picture.exists(), f"{page.relative_to(DOCS)} shows {target}, which is missing"
            shown.setdefault(picture.name, []).append(page.relative_to(DOCS).as_posix())
    return shown


def taken_by_tests() -> set[str]:
    """The pictures the browser tests take for the docs (``docs_screenshot(..., "NAME")``)."""
    names = set()
    for test in (ROOT / "tests").rglob("test_*.py"):
        if test.parent.name == "docs":  # this module names the call in its docstring
            continue
        names.update(re.findall(r'docs_screenshot\([^)]*"([\w-]+)"\)', test.read_text()))
    return {f"{name}.png" for name in names}


def test_every_picture_is_shown_and_taken_by_a_browser_test():
    in_docs = {p.name for p in SHOTS.glob("*")}
    shown = shown_pictures()
    taken = taken_by_tests()
    assert {"status-page.png", "ingress-panel.png", "mock-dashboard.png"} <= taken
    assert in_docs == taken, "docs/assets/screenshots/ holds exactly what tests take"
    assert set(shown) == in_docs, "each picture is on a page, and each page's picture is there"


@pytest.mark.parametrize("name", ["status-page.png", "ingress-panel.png", "mock-dashboard.png"])
def test_each_picture_is_a_browser_screenshot(name):
    data = (SHOTS / name).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert 300 <= width <= 1400 and 600 <= height <= 1600, (width, height)


def yaml_examples() -> list[tuple[str, str]]:
    found = []
    for page in [*sorted((DOCS / "devices").glob("*.md")), DOCS / "how-it-works" / "event-time.md"]:
        for block in re.findall(r"```yaml\n(.*?)```", page_source(page), re.S):
            if "topic:" in block and "exist:" not in block:
                found.append((page.relative_to(DOCS).as_posix(), block))
    return found


@pytest.mark.parametrize(("page", "block"), yaml_examples())
def test_every_mapping_example_is_a_valid_configuration(page, block):
    if block.startswith(" "):  # a list of mappings, shown without its key
        block = "mappings:\n" + block
    config = parse_config("exist: {token: t}\n" + block)
    assert config.mappings, page
