"""The generated parts of the documentation are what the code generates now: the configuration
reference (the schema), the command-line reference (the argparse parsers) and the code map (the
source tree). ``python docs/generate.py`` rewrites them."""

from __future__ import annotations

import re

import pytest

from ..support.docs_site import DOCS, ROOT, generator

COMMAND = "python docs/generate.py"


@pytest.mark.parametrize(
    "page", ["reference/configuration.md", "reference/cli.md", "project/code-map.md"]
)
def test_each_generated_page_is_what_the_code_generates_now(page):
    path = DOCS / page
    expected = generator().generated_pages()[path]
    assert path.read_text(encoding="utf-8") == expected, (
        f"{path.relative_to(ROOT)} is out of date: run `{COMMAND}`"
    )


def listed_modules() -> set[str]:
    """The modules the committed code map lists, as paths from the repository's root."""
    text = (DOCS / "project" / "code-map.md").read_text(encoding="utf-8")
    part = text.split("<!-- code-map:start", 1)[1].split("<!-- code-map:end", 1)[0]
    listed: set[str] = set()
    package = None
    for line in part.splitlines():
        heading = re.match(r"^#+ `([\w/]+/)`$", line)
        if heading:
            package = heading.group(1)
            listed.add(package + "__init__.py")
        row = re.match(r"^\| `(\w+\.py)` \|", line)
        if row:
            assert package, line
            listed.add(package + row.group(1))
    return listed


def test_the_code_map_lists_every_module_of_the_three_packages_and_no_other():
    in_tree = {path.as_posix() for path in generator().modules()}
    listed = listed_modules()
    missing = sorted(in_tree - listed)
    gone = sorted(listed - in_tree)
    assert (missing, gone) == ([], []), (
        f"the code map misses {missing} and lists {gone}, which are gone: run `{COMMAND}`"
    )
    assert any(p.startswith("mock_exist/") for p in in_tree)
    assert any(p.startswith("exist_demo/") for p in in_tree)


def test_the_code_maps_own_words_name_only_files_that_exist():
    """The hand-written part (layout, the path of a message) names real modules and folders."""
    text = (DOCS / "project" / "code-map.md").read_text(encoding="utf-8")
    prose = text.split("<!-- code-map:start", 1)[0]
    names = set(re.findall(r"`([\w./{},-]+(?:\.py|/))`", prose))
    everything = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if ".venv" not in p.parts]
    gone = sorted(
        name
        for name in names
        if "{" not in name
        and not any(p == name.rstrip("/") or p.endswith("/" + name.rstrip("/")) for p in everything)
    )
    assert gone == []


def test_a_stale_page_is_reported(monkeypatch):
    gen = generator()
    monkeypatch.setattr(gen, "code_map", lambda: "| `nothing.py` | a module that isn't there |")
    assert [p.relative_to(DOCS).as_posix() for p in gen.stale_pages()] == ["project/code-map.md"]
    assert gen.main(["--check"]) == 1


def test_missing_markers_are_a_one_line_error(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# no markers\n")
    with pytest.raises(ValueError, match="markers .* are missing"):
        generator().replace_between(page.read_text(), "<!-- a -->", "<!-- b -->", "x", page)
