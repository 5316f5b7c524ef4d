"""The documentation site as the tests read it: its pages, their anchors, the nav, and
``docs/generate.py`` (the generator of its reference pages and code map).

Anchors are computed as MkDocs computes them (Python-Markdown's ``toc`` slugify over a heading's
text, ``_1`` for a repeated one), with the files a page includes (``--8<-- "FILE[:SECTION]"``,
pymdownx.snippets) read in place, so a link checked here is one ``mkdocs build --strict`` accepts.
"""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from pathlib import Path
from types import ModuleType

import yaml
from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SNIPPET = re.compile(r'^(\s*)--8<-- "([^":]+)(?::([\w-]+))?"\s*$')
FENCE = re.compile(r"^\s*(```|~~~)")


@cache
def generator() -> ModuleType:
    """``docs/generate.py``, imported (it is a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def snippet(path: str, section: str | None) -> str:
    """What ``--8<-- "path[:section]"`` includes: a repository file, or its named section."""
    text = (ROOT / path).read_text(encoding="utf-8")
    if section is None:
        return text
    start = re.search(rf"--8<-- \[start:{re.escape(section)}\].*\n", text)
    end = re.search(rf".*--8<-- \[end:{re.escape(section)}\]", text)
    assert start and end, f"{path} has no section {section!r}"
    return text[start.end() : end.start()]


def page_source(page: Path) -> str:
    """A page's Markdown with its snippets included."""
    lines = []
    for line in page.read_text(encoding="utf-8").splitlines():
        match = SNIPPET.match(line)
        if match:
            indent, path, section = match.groups()
            lines += [indent + included for included in snippet(path, section).splitlines()]
        else:
            lines.append(line)
    return "\n".join(lines)


def headings(markdown: str) -> list[tuple[int, str]]:
    """(level, text) of each ATX heading outside code fences."""
    found = []
    fenced = False
    for line in markdown.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if match and not fenced:
            found.append((len(match.group(1)), match.group(2)))
    return found


def _plain(heading: str) -> str:
    """A heading's text as the rendered HTML has it (no code marks, emphasis or link targets)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return text.replace("`", "").replace("*", "")


def anchors(page: Path) -> set[str]:
    """The ids MkDocs gives a page's headings."""
    seen: set[str] = set()
    for _, text in headings(page_source(page)):
        slug = slugify(_plain(text), "-")
        candidate, n = slug, 0
        while candidate in seen:
            n += 1
            candidate = f"{slug}_{n}"
        seen.add(candidate)
    return seen


def title(page: Path) -> str:
    """A page's first heading (its title)."""
    return _plain(headings(page_source(page))[0][1])


def pages() -> list[Path]:
    """Every Markdown page of the site."""
    return sorted(DOCS.rglob("*.md"))


class _Loader(yaml.SafeLoader):
    """mkdocs.yml's own tags (``!ENV``, ``!!python/name:``) read as nothing."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
_Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)


def mkdocs_config() -> dict:
    """mkdocs.yml."""
    return yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_Loader)


def nav_pages() -> list[str]:
    """Every page the nav lists, as paths under docs/."""

    def walk(entry: object) -> list[str]:
        if isinstance(entry, str):
            return [entry]
        if isinstance(entry, list):
            return [page for item in entry for page in walk(item)]
        if isinstance(entry, dict):
            return [page for value in entry.values() for page in walk(value)]
        return []

    return walk(mkdocs_config()["nav"])


def resolve(target: str, base: Path) -> tuple[Path, str | None]:
    """A link's file (relative to ``base``'s folder) and its anchor."""
    path, _, anchor = target.partition("#")
    file = (base.parent / path).resolve() if path else base
    return file, anchor or None


def link_problem(target: str, base: Path) -> str | None:
    """Why a relative link from the file ``base`` leads nowhere, or None."""
    file, anchor = resolve(target, base)
    if not file.exists():
        return f"{target}: {file} is missing"
    in_docs = file.suffix == ".md" and file.is_relative_to(DOCS)
    if anchor and in_docs and anchor not in anchors(file):
        return f"{target}: {file.relative_to(ROOT)} has no heading with the anchor #{anchor}"
    return None
