"""Issue 20: what a release reads (the changelogs, the home, the workflows) and dists/release.py,
which checks them before anything is published."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "dists"))
import release  # noqa: E402  (dists/release.py: a script, not a package)

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SEMVER = re.compile(r"\d+\.\d+\.\d+")


# ----------------------------------------------------------------- changelogs


@pytest.mark.parametrize("path", [release.CHANGELOG, release.ADDON_CHANGELOG])
def test_changelogs_keep_a_changelog(path):
    text = path.read_text(encoding="utf-8")
    headings = release.sections(path)
    assert headings, f"{path} has no '## [version] - date' sections"
    assert list(headings)[0] == "Unreleased" or SEMVER.fullmatch(list(headings)[0])
    for version, date in headings.items():
        if version != "Unreleased":
            assert SEMVER.fullmatch(version) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", date or "")
    assert len(re.findall(r"(?m)^## ", text)) == len(headings), "a ## heading of another form"


def test_the_addon_changelog_follows_the_projects():
    """The add-on's changelog has the same versions, newest first, as the project's."""
    assert list(release.sections(release.ADDON_CHANGELOG)) == list(
        release.sections(release.CHANGELOG)
    )


def test_the_version_is_released_or_about_to_be():
    headings = release.sections(release.CHANGELOG)
    assert release.version() in headings or "Unreleased" in headings


# ----------------------------------------------------------------- the home, one setting


def test_every_file_names_the_one_home():
    home = release.home()
    assert release.HOME_FORM.match(home)
    owner, name = home.split("/")
    ours = re.compile(
        r"github\.com/([\w.-]+/exist-mqtt-bridge)\b|ghcr\.io/([\w.-]+)/(?:exist|mock)"
        r"|([\w-]+)\.github\.io/exist-mqtt-bridge"
    )
    wrong = []
    for path in release.tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for m in ours.finditer(text):
            found = m.group(1) or m.group(2) or m.group(3)
            expected = home if m.group(1) else owner.lower()
            if found != expected:
                wrong.append(f"{path.relative_to(ROOT)}: {m.group(0)}")
    assert not wrong, wrong
    assert (
        f"https://github.com/{home}"
        == yaml.safe_load((ROOT / "repository.yaml").read_text())["url"]
    )
    assert yaml.safe_load((ROOT / "exist-bridge" / "config.yaml").read_text())["url"].endswith(
        f"github.com/{home}"
    )


def test_a_fork_changes_the_home_with_one_command(tmp_path):
    fork = tmp_path / "fork"
    subprocess.run(
        ["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(fork)], check=True, timeout=120
    )
    for changed in ("pyproject.toml", "repository.yaml", "exist-bridge/config.yaml"):
        shutil.copy(ROOT / changed, fork / changed)  # this checkout's, committed or not
    done = subprocess.run(
        [sys.executable, "dists/release.py", "home", "Someone/my-fork"],
        cwd=fork,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "rewrote pyproject.toml" in done.stdout
    after = subprocess.run(
        [sys.executable, "dists/release.py", "home"], cwd=fork, capture_output=True, text=True
    )
    assert after.stdout.strip() == "Someone/my-fork"
    assert "github.com/Someone/my-fork" in (fork / "repository.yaml").read_text()
    bridge = (fork / "dists" / "exist-mqtt-bridge" / "pyproject.toml").read_text()
    assert "github.com/Someone/my-fork" in bridge and "someone.github.io/my-fork" in bridge
    assert "github.com/exist-mqtt-bridge/exist-mqtt-bridge" not in bridge


def test_a_home_of_the_wrong_form_is_refused():
    with pytest.raises(release.ReleaseError, match="owner/name"):
        release.set_home("no-slash")


# ----------------------------------------------------------------- verify and notes


@pytest.fixture
def released(tmp_path, monkeypatch):
    """release.py pointed at copies of the files it reads, with VERSION at 1.2.3."""
    (tmp_path / "exist-bridge").mkdir()
    (tmp_path / "VERSION").write_text("1.2.3\n")
    (tmp_path / "exist-bridge" / "config.yaml").write_text('name: x\nversion: "1.2.3"\n')
    body = (
        "## [Unreleased]\n\n## [1.2.3] - 2027-01-02\n\n### Fixed\n\n- a thing\n\n"
        "## [1.2.2] - 2026-12-01\n\n- older\n"
    )
    (tmp_path / "CHANGELOG.md").write_text("# Changelog\n\n" + body)
    (tmp_path / "exist-bridge" / "CHANGELOG.md").write_text("# Changelog\n\n" + body)
    monkeypatch.setattr(release, "ROOT", tmp_path)
    monkeypatch.setattr(release, "CHANGELOG", tmp_path / "CHANGELOG.md")
    monkeypatch.setattr(release, "ADDON_CHANGELOG", tmp_path / "exist-bridge" / "CHANGELOG.md")
    monkeypatch.setattr(release, "ADDON_CONFIG", tmp_path / "exist-bridge" / "config.yaml")
    return tmp_path


def test_verify_passes_when_everything_agrees(released):
    assert release.verify("v1.2.3") == "1.2.3"


@pytest.mark.parametrize(
    ("tag", "change", "message"),
    [
        ("1.2.3", None, "looks like v1.2.3"),
        ("v1.2.4", None, "VERSION says 1.2.3"),
        ("v1.2.3", ("exist-bridge/config.yaml", '"1.2.3"', '"1.2.2"'), "config.yaml's version"),
        ("v1.2.3", ("CHANGELOG.md", "## [1.2.3] - 2027-01-02", "## [1.2.3]"), "CHANGELOG.md needs"),
        (
            "v1.2.3",
            ("exist-bridge/CHANGELOG.md", "[1.2.3] - 2027-01-02", "[Unreleased2]"),
            "exist-bridge/CHANGELOG.md needs",
        ),
    ],
)
def test_verify_refuses_what_disagrees(released, tag, change, message):
    if change:
        path = released / change[0]
        path.write_text(path.read_text().replace(change[1], change[2]))
    with pytest.raises(release.ReleaseError, match=re.escape(message)):
        release.verify(tag)


def test_notes_are_the_versions_section_only(released):
    notes = release.notes("1.2.3")
    assert notes == "### Fixed\n\n- a thing\n"
    with pytest.raises(release.ReleaseError, match=r"no section ## \[9.9.9\]"):
        release.notes("9.9.9")


def test_verify_from_the_command_line_says_what_is_wrong():
    done = subprocess.run(
        [sys.executable, str(ROOT / "dists" / "release.py"), "verify", "v0.0.1"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("release: the tag is v0.0.1 but VERSION says")


# ----------------------------------------------------------------- workflows


def uses(workflow: dict) -> list[str]:
    steps = [s for job in workflow["jobs"].values() for s in job.get("steps", [])]
    return [s["uses"] for s in steps if "uses" in s]


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_workflows_pin_actions_and_keep_permissions_least(path):
    text = path.read_text(encoding="utf-8")
    workflow = yaml.safe_load(text)
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert "pull_request_target" not in triggers
    assert workflow["permissions"] in ({"contents": "read"}, {})  # jobs ask for more
    for ref in uses(workflow):
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{path.name}: {ref}"
    for line in text.splitlines():
        if "uses:" in line and "@" in line:
            assert re.search(r"# v\d", line), f"{path.name}: say the version: {line.strip()}"


def test_the_release_workflow_publishes_with_trusted_publishing():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    assert workflow[True]["push"]["tags"] == ["v*.*.*"]
    pypi = workflow["jobs"]["pypi"]
    assert pypi["permissions"] == {"id-token": "write"}
    assert any(u.startswith("pypa/gh-action-pypi-publish@") for u in uses({"jobs": {"p": pypi}}))
    publish = [s for s in pypi["steps"] if s.get("uses", "").startswith("pypa/")]
    assert all("password" not in s.get("with", {}) for s in publish)  # no API token
    assert "secrets." not in (ROOT / ".github" / "workflows" / "release.yml").read_text()
    build = yaml.safe_dump(workflow["jobs"]["build"])
    assert "dists/release.py verify" in build and "dists/build.py --check" in build


def test_ci_runs_the_same_checks_as_ci_run_on_every_supported_python():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    test = workflow["jobs"]["test"]
    assert test["strategy"]["matrix"]["python"] == ["3.10", "3.11", "3.12", "3.13"]
    assert any(step.get("run") == "bash .ci/run" for step in test["steps"])
