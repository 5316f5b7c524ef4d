"""What a release needs beyond building: checks before publishing, the notes, the project's home.

    python dists/release.py verify v0.2.0   # the tag, VERSION, the add-on and both changelogs agree
    python dists/release.py notes 0.2.0     # CHANGELOG.md's section for 0.2.0 (the release notes)
    python dists/release.py home            # prints the repository's home (owner/name)
    python dists/release.py home me/fork    # a fork: rewrite the home in every file that names it

The home (GitHub owner/name) is one setting, ``[tool.exist-mqtt-bridge] home`` in pyproject.toml;
the files that must name it (package URLs, the add-on's image and URL, the docs site) are
rewritten from it by ``home OWNER/NAME``, and tests/release checks that they agree. The
workflows take the owner and name from GitHub itself, so they need no change in a fork.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
CHANGELOG = ROOT / "CHANGELOG.md"
ADDON_CHANGELOG = ROOT / "exist-bridge" / "CHANGELOG.md"
ADDON_CONFIG = ROOT / "exist-bridge" / "config.yaml"
HOME_SETTING = re.compile(r'(?m)^home = "(?P<home>[^"]+)"')
HOME_FORM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
SECTION = re.compile(r"(?m)^## \[(?P<version>[^\]]+)\](?: - (?P<date>\S+))?[ \t]*$")


class ReleaseError(Exception):
    """A release check failed; the message says what to fix."""


def version() -> str:
    return (ROOT / "VERSION").read_text(encoding="utf-8").strip()


def home() -> str:
    """The repository's home, ``owner/name``, from pyproject.toml."""
    found = HOME_SETTING.search(PYPROJECT.read_text(encoding="utf-8"))
    if not found:
        raise ReleaseError('pyproject.toml has no [tool.exist-mqtt-bridge] home = "owner/name"')
    return found["home"]


def home_forms(value: str) -> list[str]:
    """How the home appears in files: GitHub URLs, ghcr.io images (owner in lower case, as the
    registry requires) and the GitHub Pages site."""
    owner, name = value.split("/")
    return [f"github.com/{value}", f"ghcr.io/{owner.lower()}/", f"{owner.lower()}.github.io/{name}"]


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    files = []
    for name in filter(None, listed):
        path = ROOT / name.decode()
        if path.is_file() and not path.is_symlink() and path.suffix != ".png":
            files.append(path)
    return files


def set_home(new: str) -> list[Path]:
    """Rewrite every tracked file that names the current home to name ``new``; returns them."""
    if not HOME_FORM.match(new):
        raise ReleaseError(f"the home must look like owner/name, got {new!r}")
    old = home()
    pairs = list(zip(home_forms(old), home_forms(new), strict=True))
    changed = []
    for path in tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        updated = text
        for before, after in pairs:
            updated = updated.replace(before, after)
        if path == PYPROJECT:
            updated = HOME_SETTING.sub(f'home = "{new}"', updated)
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            changed.append(path)
    return changed


def sections(path: Path) -> dict[str, str | None]:
    """A Keep a Changelog file's section headings: version -> date (None for Unreleased)."""
    return {m["version"]: m["date"] for m in SECTION.finditer(path.read_text(encoding="utf-8"))}


def notes(wanted: str) -> str:
    """The body of CHANGELOG.md's section for ``wanted`` (up to the next section)."""
    text = CHANGELOG.read_text(encoding="utf-8")
    headings = list(SECTION.finditer(text))
    for i, heading in enumerate(headings):
        if heading["version"] == wanted:
            end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
            return text[heading.end() : end].strip() + "\n"
    raise ReleaseError(f"CHANGELOG.md has no section ## [{wanted}]")


def verify(tag: str) -> str:
    """Everything that must agree before ``tag`` is published; returns the version."""
    if not re.fullmatch(r"v\d+\.\d+\.\d+", tag):
        raise ReleaseError(f"a release tag looks like v1.2.3, got {tag!r}")
    wanted = tag[1:]
    if version() != wanted:
        raise ReleaseError(f"the tag is {tag} but VERSION says {version()}")
    addon = re.search(r'(?m)^version: "?([^"\s]+)"?', ADDON_CONFIG.read_text(encoding="utf-8"))
    if not addon or addon[1] != wanted:
        raise ReleaseError(f"exist-bridge/config.yaml's version is not {wanted}")
    for path in (CHANGELOG, ADDON_CHANGELOG):
        date = sections(path).get(wanted)
        if not date or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
            raise ReleaseError(
                f"{path.relative_to(ROOT)} needs a section '## [{wanted}] - YYYY-MM-DD'"
            )
    return wanted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python dists/release.py", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("verify", help="check that a tag may be released").add_argument("tag")
    sub.add_parser("notes", help="print a version's changelog section").add_argument("version")
    sub.add_parser("home", help="print or set the repository's owner/name").add_argument(
        "new", nargs="?"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "verify":
            print(f"release {verify(args.tag)}: VERSION, the add-on and both changelogs agree")
        elif args.command == "notes":
            sys.stdout.write(notes(args.version))
        elif args.new is None:
            print(home())
        else:
            for path in set_home(args.new):
                print(f"rewrote {path.relative_to(ROOT)}")
    except ReleaseError as err:
        print(f"release: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
