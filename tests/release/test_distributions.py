"""Issue 20: the two distributions' definitions (dists/<name>/pyproject.toml) against the code
and against the development workspace (the root pyproject.toml): every imported third-party
package declared, the workspace the union of the two, one version."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
DISTS = ROOT / "dists"

# import name -> distribution name, where they differ
DISTRIBUTION_OF = {"yaml": "pyyaml", "paho": "paho-mqtt"}
# imported but rightly not a dependency: the plugin module is loaded by pytest itself
NOT_DEPENDENCIES = {"mock-exist": {"pytest"}}
# optional imports, each behind an extra (exist_demo needs the emulator and, lacking mosquitto,
# the embedded broker)
EXTRAS = {"exist-mqtt-bridge": {"mock-exist", "amqtt"}}
OWN = {"mqtt_bridge", "mock_exist", "exist_demo"}


def project(name: str) -> dict:
    return tomllib.loads((DISTS / name / "pyproject.toml").read_text(encoding="utf-8"))


def workspace() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def requirement_name(requirement: str) -> str:
    name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def packages(name: str) -> list[str]:
    """The top-level packages a distribution includes (its packages.find patterns)."""
    found = project(name)["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted({pattern.rstrip("*").rstrip(".") for pattern in found})


def imported_distributions(package: str) -> set[str]:
    """Third-party distributions whose modules ``package``'s code imports (at any depth, lazily
    inside functions too), by name."""
    stdlib = set(sys.stdlib_module_names)
    names: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    third_party = names - stdlib - {"__future__"}
    return {DISTRIBUTION_OF.get(n, n).replace("_", "-").lower() for n in third_party}


@pytest.mark.parametrize("name", ["exist-mqtt-bridge", "mock-exist"])
def test_every_imported_package_is_declared(name):
    declared = {requirement_name(r) for r in project(name)["project"]["dependencies"]}
    imported = set().union(*(imported_distributions(p) for p in packages(name)))
    allowed = {p.replace("_", "-") for p in OWN} | NOT_DEPENDENCIES.get(name, set())
    missing = imported - declared - allowed - EXTRAS.get(name, set())
    assert not missing, f"{name} imports {sorted(missing)} without declaring them"
    unused = declared - imported - {"tzdata"}  # tzdata: zoneinfo's data where the OS has none
    assert not unused, f"{name} declares {sorted(unused)} that nothing imports"


def test_the_bridge_needs_no_flask_and_registers_no_pytest_plugin():
    bridge = project("exist-mqtt-bridge")
    names = {requirement_name(r) for r in bridge["project"]["dependencies"]}
    assert not names & {"flask", "werkzeug", "pytest"}
    assert "entry-points" not in bridge["project"]  # no pytest11
    assert set(bridge["project"]["scripts"]) == {"exist-bridge"}
    assert "mock_exist" not in packages("exist-mqtt-bridge")


def test_the_demo_extra_pins_the_emulator_to_the_same_version():
    setup = (DISTS / "exist-mqtt-bridge" / "setup.py").read_text(encoding="utf-8")
    assert '"demo": [f"mock-exist=={VERSION}"' in setup
    assert 'with_name("VERSION")' in setup


def test_the_mock_is_its_own_product():
    mock = project("mock-exist")
    assert packages("mock-exist") == ["mock_exist"]
    assert mock["project"]["entry-points"]["pytest11"] == {"mock_exist": "mock_exist.pytest_plugin"}
    assert set(mock["project"]["scripts"]) == {"mock-exist", "mock-exist-conformance"}


def test_the_workspace_is_the_union_of_the_two():
    """`pip install -e '.[dev]'` gives a developer both products exactly as users get them."""
    ws = workspace()["project"]
    dists = [project(n)["project"] for n in ("exist-mqtt-bridge", "mock-exist")]
    assert sorted(ws["dependencies"]) == sorted({r for d in dists for r in d["dependencies"]})
    assert ws["scripts"] == {k: v for d in dists for k, v in d["scripts"].items()}
    assert ws["entry-points"] == {k: v for d in dists for k, v in d.get("entry-points", {}).items()}
    assert "Private :: Do Not Upload" in ws["classifiers"]  # PyPI refuses it
    found = workspace()["tool"]["setuptools"]["packages"]["find"]["include"]
    assert sorted(p.rstrip("*") for p in found) == sorted(
        packages("exist-mqtt-bridge") + packages("mock-exist")
    )


@pytest.mark.parametrize("name", ["exist-mqtt-bridge", "mock-exist"])
def test_each_distribution_links_to_the_repository_packages(name):
    folder = DISTS / name
    for linked in [*packages(name), "VERSION", "LICENSE"]:
        path = folder / linked
        assert path.is_symlink(), f"{path} should link to the repository's {linked}"
        assert path.resolve() == (ROOT / linked).resolve()
    assert project(name)["tool"]["setuptools"]["dynamic"]["version"] == {"file": "VERSION"}


def test_one_version_everywhere():
    import mock_exist
    from mqtt_bridge.exist.version import __version__

    version = (ROOT / "VERSION").read_text().strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert __version__ == mock_exist.__version__ == version
    assert "version" in workspace()["project"]["dynamic"]
