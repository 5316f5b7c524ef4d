"""The house rules of mqtt_bridge/ (docs/project/code-map.md), checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

from .support.imports import imported_names

PACKAGE = Path(__file__).resolve().parents[1] / "mqtt_bridge"
MAX_LINES = 600


def _modules(under: Path = PACKAGE) -> list[Path]:
    return sorted(under.rglob("*.py"))


def _imported(path: Path) -> set[str]:
    """Absolute names of the mqtt_bridge modules ``path`` imports (relative imports resolved)."""
    package = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                names.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.split(".")[0] == "mqtt_bridge"}


def test_no_module_is_over_600_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_exist_client_imports_nothing_from_the_rest_of_the_bridge():
    outside = {
        str(p.relative_to(PACKAGE)): sorted(
            n for n in _imported(p) if not n.startswith("mqtt_bridge.exist")
        )
        for p in _modules(PACKAGE / "exist")
    }
    assert {k: v for k, v in outside.items() if v} == {}


def test_each_exist_rule_is_defined_once():
    rules = ("INTEGER_TYPES", "NOT_INCREMENTABLE", "GROUPS", "MAX_ITEMS_PER_REQUEST")
    where: dict[str, list[str]] = {rule: [] for rule in rules}
    for path in _modules():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                if isinstance(target, ast.Name) and target.id in where:
                    where[target.id].append(str(path.relative_to(PACKAGE)))
    assert where == {rule: ["exist/domain.py"] for rule in rules}


def test_no_test_hooks_in_production_code():
    hooks = [
        str(p.relative_to(PACKAGE))
        for p in _modules()
        if "EXIST_BRIDGE_TEST" in p.read_text(encoding="utf-8")
    ]
    assert hooks == []


def test_the_layout_check_sees_imports():
    """The import scan itself: a relative import out of exist/ is found."""
    probe = PACKAGE / "exist" / "client.py"
    assert "mqtt_bridge.exist.budget" in _imported(probe)
    assert "mqtt_bridge.config" in _imported(PACKAGE / "pipeline" / "input" / "mqtt.py")


TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
STUBS = {"tests.faults.harness", "tests.faults.proxy"}


def _test_imports(path: Path, root: Path = ROOT) -> set[str]:
    return imported_names(path, root)


def _imports_a_test_module(path: Path, root: Path = ROOT) -> list[str]:
    return sorted(
        name
        for name in _test_imports(path, root)
        if name.split(".")[-1].startswith("test_") or name in STUBS
    )


def test_no_test_module_imports_another_test_module():
    """Shared test helpers live in tests/support, never in a test module (issue 12)."""
    files = sorted(TESTS.rglob("*.py")) + sorted((ROOT / "bench").rglob("*.py"))
    offenders = {
        str(p.relative_to(ROOT)): found for p in files if (found := _imports_a_test_module(p))
    }
    assert offenders == {}


def test_the_test_import_scan_sees_relative_and_absolute_imports(tmp_path):
    """The scan itself: each spelling of importing a test module is found, a helper is not."""
    probe = tmp_path / "tests" / "edges" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text(
        "from .test_stop_deadline import x\n"
        "from ..faults import harness\n"
        "import tests.bridge.test_service\n"
        "from ..bridge import test_service as other\n"
        "from ..support.net import free_port\n",
        encoding="utf-8",
    )
    assert _imports_a_test_module(probe, root=tmp_path) == [
        "tests.bridge.test_service",
        "tests.edges.test_stop_deadline",
        "tests.faults.harness",
    ]
