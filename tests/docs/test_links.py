"""Every way into the documentation leads somewhere: the README's links, the add-on's DOCS.md,
the starter mappings file, the other READMEs and examples, and the commands' ``--help`` name
pages (and anchors) that exist, by the title the page has."""

from __future__ import annotations

import argparse
import io
import re

import pytest

from mqtt_bridge.cli import build_parser as bridge_parser

from ..support.docs_site import DOCS, ROOT, anchors, generator, link_problem, title

MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
DOCS_MENTION = re.compile(r"\bdocs/[\w/.-]+\.md(?:#[\w-]+)?")
TITLED_MENTION = re.compile(r"\*([^*\n]+)\*[^`*\n]{0,16}`(docs/[\w/.-]+\.md)(?:#[\w-]+)?`")

#: files outside docs/ that send readers into it
POINTERS = [
    "exist-bridge/DOCS.md",
    "mqtt_bridge/addon/starter.yaml",
    "docker/README.md",
    "examples/recipes/README.md",
    "examples/quickstart.yaml",
    "examples/bridge.example.yaml",
]


def help_texts() -> dict[str, str]:
    """``--help`` of every command and subcommand, as printed."""
    texts = {}
    for name, parser in generator().command_parsers():
        texts[name] = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, subparser in action.choices.items():
                    texts[f"{name} {sub}"] = subparser.format_help()
    return texts


def sources() -> dict[str, str]:
    texts = {path: (ROOT / path).read_text(encoding="utf-8") for path in POINTERS}
    texts.update({f"{name} --help": text for name, text in help_texts().items()})
    return texts


def test_every_relative_link_of_the_readme_resolves():
    readme = ROOT / "README.md"
    targets = [t for t in MARKDOWN_LINK.findall(readme.read_text()) if not re.match(r"\w+:", t)]
    assert len(targets) > 20  # the front door links into every section
    problems = [p for t in targets if (p := link_problem(t, readme))]
    assert problems == []


def test_the_readme_links_to_every_section_of_the_site():
    readme = (ROOT / "README.md").read_text()
    linked = {t.split("#")[0] for t in MARKDOWN_LINK.findall(readme)}
    for section in ("get-started", "devices", "reference", "how-it-works", "mock-exist", "project"):
        assert any(t.startswith(f"docs/{section}/") for t in linked), section


@pytest.mark.parametrize("name", sorted(sources()))
def test_every_mention_of_a_docs_page_resolves(name):
    text = sources()[name]
    mentions = DOCS_MENTION.findall(text)
    problems = [p for m in mentions if (p := link_problem(m, ROOT / "README.md"))]
    assert problems == []
    for shown, path in TITLED_MENTION.findall(text):
        assert shown == title(ROOT / path), f"{name} calls {path} {shown!r}"


def test_the_places_that_pointed_at_readme_sections_point_into_the_docs():
    """The add-on's documentation and the starter file once sent readers to a README section
    that didn't exist by that name; now they name pages, and the README holds no reference."""
    for name in ("exist-bridge/DOCS.md", "mqtt_bridge/addon/starter.yaml"):
        text = sources()[name]
        assert "README" not in text, name
        assert "docs/reference/configuration.md" in text, name
    for name, text in help_texts().items():
        assert "README" not in text, name
    assert "docs/" in help_texts()["exist-bridge"]
    assert "docs/mock-exist/" in help_texts()["mock-exist"]


def test_the_mention_checks_can_fail():
    assert link_problem("docs/reference/nope.md", ROOT / "README.md")
    assert link_problem("docs/reference/cli.md#no-such-anchor", ROOT / "README.md")
    assert link_problem("docs/reference/cli.md#exist-bridge-run", ROOT / "README.md") is None
    assert "exist-bridge-status-json" in anchors(DOCS / "reference" / "status.md")


def test_the_bridge_help_is_the_parser_the_docs_are_generated_from():
    out = io.StringIO()
    assert bridge_parser(out, out).format_help() == help_texts()["exist-bridge"]
