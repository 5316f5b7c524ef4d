"""The house rules of mqtt_bridge/ (docs/project/code-map.md), checked on the source itself."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

from .support.imports import imported_names

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
PACKAGE = ROOT / "mqtt_bridge"
MAX_LINES = 600


def _modules(under: Path = PACKAGE) -> list[Path]:
    return sorted(under.rglob("*.py"))


def _module_name(path: Path, root: Path) -> str:
    """``mqtt_bridge/config/model.py`` -> ``mqtt_bridge.config.model`` (a package: its name)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _targets(path: Path, package: Path = PACKAGE) -> set[str]:
    """The modules of ``package`` that ``path`` names in an import, anywhere in it (in a
    function, under ``TYPE_CHECKING``): ``from X import name`` is ``X.name`` when that is a
    module, else ``X``; relative imports resolved."""
    root = package.parent
    known = {_module_name(p, root) for p in _modules(package)}
    importer = _module_name(path, root)
    here = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = here[: len(here) - (node.level - 1)] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                name = f"{module}.{alias.name}"
                targets.add(name if name in known else module)
        elif isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
    return {t for t in targets if t in known}


def _imported(path: Path, package: Path = PACKAGE) -> set[str]:
    """What importing ``path`` imports of ``package``: its ``_targets`` and the packages on
    their way (Python runs each one's ``__init__``), except the importer's own packages."""
    importer = _module_name(path, package.parent)
    found = set()
    for target in _targets(path, package):
        parts = target.split(".")
        for end in range(2, len(parts) + 1):
            name = ".".join(parts[:end])
            if not (importer == name or importer.startswith(name + ".")):
                found.add(name)
    return found


def _import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports (see ``_imported``)."""
    root = package.parent
    return {_module_name(p, root): _imported(p, package) for p in _modules(package)}


def _rooms(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between rooms: ``mqtt_bridge.config``, ``mqtt_bridge.service`` ... (a module
    stands for the room it is in, the first level below the package)."""

    def room(name: str) -> str:
        return ".".join(name.split(".")[:2])

    rooms: dict[str, set[str]] = {}
    for name, targets in graph.items():
        rooms.setdefault(room(name), set()).update(room(t) for t in targets)
    return {name: targets - {name} for name, targets in rooms.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph``: each strongly connected set of more than one node (or a
    node importing itself), sorted (Tarjan's algorithm)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in order:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], order[target])
        if low[node] == order[node]:
            members = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            if len(members) > 1 or node in graph.get(node, ()):
                cycles.append(sorted(members))

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return sorted(cycles)


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


def test_state_file_names_are_defined_once():
    """The state directory's file names are ``state_dir``'s constants; the bridge, the demo and
    the benchmarks never spell one out again."""
    import mqtt_bridge.state_dir as state_dir

    names = {v for k, v in vars(state_dir).items() if k.endswith("_FILE") and isinstance(v, str)}
    assert {"outbox.sqlite", "health.json", "budget.json"} <= names
    spelt = sorted(
        f"{p.relative_to(ROOT)}:{node.lineno}"
        for folder in ("mqtt_bridge", "exist_demo", "bench")
        for p in _modules(ROOT / folder)
        if p != PACKAGE / "state_dir.py"
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in names
    )
    assert spelt == []


def test_the_help_names_only_files_the_code_reads_or_ships():
    """A relative path named in ``--help`` is a state file (``state_dir/NAME``) or one a package
    ships (``exist_demo/demo.yaml``): never a checkout's file (``examples/``) an installed user
    lacks."""
    import io
    import re

    import mqtt_bridge.state_dir as state_dir
    from mqtt_bridge.cli import build_parser

    state_files = {v for k, v in vars(state_dir).items() if k.endswith("_FILE")}
    parser = build_parser(io.StringIO(), io.StringIO())
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    relative = re.compile(r"(?<![\w/])[\w-]+/[\w./-]*\.(?:ya?ml|json|sqlite|py)\b")
    named = {
        p for command in commands.choices.values() for p in relative.findall(command.format_help())
    }
    assert any(name.startswith("state_dir/") for name in named)  # the pattern finds paths
    wrong = {
        name
        for name in named
        if not (name.startswith("state_dir/") and name.split("/", 1)[1] in state_files)
        and not (name.split("/")[0] in ("mqtt_bridge", "exist_demo") and (ROOT / name).is_file())
        and name != "state/token.json"  # `authorize` writes it there by default
    }
    assert wrong == set()


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
    assert "mqtt_bridge.config.model" in _imported(PACKAGE / "pipeline" / "input" / "mqtt.py")
    assert "mqtt_bridge.config" in _targets(PACKAGE / "service.py")  # the package: not the model


def test_no_import_cycle_in_the_bridge():
    """Not between modules (imports inside functions and under TYPE_CHECKING count: each is a
    module that knows another), and not between rooms (config/, pipeline/, service.py ...)."""
    graph = _import_graph()
    assert _cycles(graph) == []
    assert _cycles(_rooms(graph)) == []


def test_the_pipeline_sees_only_the_configs_model():
    """pipeline/ takes the settings it is given (``config.model``'s types); what it shares with
    the config's validation (expressions, TLS) is neutral ground both import."""
    seen = {
        _module_name(p, PACKAGE.parent): sorted(
            n for n in _targets(p) if n.startswith("mqtt_bridge.config")
        )
        for p in _modules(PACKAGE / "pipeline")
    }
    assert {k: v for k, v in seen.items() if v not in ([], ["mqtt_bridge.config.model"])} == {}


def test_the_cycle_check_finds_cycles_through_functions_and_packages(tmp_path):
    """The check itself: a cycle closed by an import inside a function, one closed through a
    package's ``__init__`` (which importing any of its modules runs), and rooms that import each
    other without any module cycle."""
    files = {
        "__init__.py": "",
        "a/__init__.py": "",
        "a/one.py": "def f():\n    from ..b import two\n",
        "b/__init__.py": "",
        "b/two.py": "from pkg.a import one\n",
        "c/__init__.py": "from .six import x\n",
        "c/three.py": "x = 1\n",
        "c/six.py": "from pkg.d.five import y\n",
        "d/__init__.py": "",
        "d/five.py": "from pkg.c.three import x\n",
        "e/__init__.py": "",
        "e/x.py": "from ..f import y\n",
        "e/w.py": "",
        "f/__init__.py": "",
        "f/y.py": "",
        "f/z.py": "import pkg.e.w\n",
    }
    for name, text in files.items():
        path = tmp_path / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    graph = _import_graph(tmp_path / "pkg")
    assert graph["pkg.a.one"] == {"pkg.b", "pkg.b.two"}
    assert graph["pkg.d.five"] == {"pkg.c", "pkg.c.three"}
    assert _cycles(graph) == [["pkg.a.one", "pkg.b.two"], ["pkg.c", "pkg.c.six", "pkg.d.five"]]
    assert _cycles(_rooms(graph)) == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.d"], ["pkg.e", "pkg.f"]]


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


def test_the_benchmarks_import_nothing_from_the_tests():
    """bench/ has its own harness (bench/_common.py) and imports the packages, never tests/."""
    offenders = {
        str(p.relative_to(ROOT)): found
        for p in sorted((ROOT / "bench").rglob("*.py"))
        if (found := sorted(n for n in _test_imports(p) if n.split(".")[0] == "tests"))
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
