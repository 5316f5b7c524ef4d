"""The house rules of mock_exist/ (issue 23, 7), checked on the source itself.

Every module lives in a room (``rules/``, ``control/``, ``http/``) or is one of the few entry points
at the top; a room imports only the rooms before it; Flask only in ``http/``; nothing of the bridge.
"""

from __future__ import annotations

from pathlib import Path

from ..support.imports import imported_names

PACKAGE = Path(__file__).resolve().parents[2] / "mock_exist"
TOP = {"__init__", "server", "cli", "pytest_plugin", "conformance"}
# each room and the rooms it may import (itself included)
ROOMS = {
    "rules": {"rules"},
    "control": {"rules", "control"},
    "http": {"rules", "control", "http"},
}
FLASK = ("flask", "werkzeug", "jinja2")
BRIDGE = ("mqtt_bridge", "exist_demo", "tests", "bench")


def _imported(path: Path) -> set[str]:
    return imported_names(path, PACKAGE.parent)


def _room(name: str) -> str | None:
    """The room of an absolute ``mock_exist.`` name: ``"rules"``..., ``"top"`` for a top-level
    module or name (``mock_exist.server``, ``mock_exist.__version__``), None for the bare package
    (``from .. import x`` also yields ``mock_exist.x``, which is checked)."""
    parts = name.split(".")
    if len(parts) < 2:
        return None
    return parts[1] if parts[1] in ROOMS else "top"


def test_every_module_lives_in_a_room_or_is_an_entry_point():
    misplaced = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        top_level = len(parts) == 1 and parts[0] in TOP
        in_a_room = len(parts) == 2 and parts[0] in ROOMS
        if not (top_level or in_a_room):
            misplaced.append("/".join(parts) + ".py")
    assert misplaced == []
    for room in ROOMS:
        assert (PACKAGE / room / "__init__.py").is_file(), f"{room}/ is not a package"


def test_a_room_imports_only_the_rooms_before_it():
    wrong = {}
    for room, allowed in ROOMS.items():
        for path in sorted((PACKAGE / room).glob("*.py")):
            names = {n for n in _imported(path) if n.split(".")[0] == "mock_exist"}
            outside = sorted(n for n in names if _room(n) not in allowed | {None})
            if outside:
                wrong[f"{room}/{path.name}"] = outside
    assert wrong == {}


def test_flask_only_in_http():
    users = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if any(n.split(".")[0] in FLASK for n in _imported(path))
    }
    assert users and all(u.startswith("http/") for u in users), sorted(users)


def test_the_mock_imports_nothing_of_the_bridge_or_the_tests():
    found = {
        str(path.relative_to(PACKAGE)): hits
        for path in PACKAGE.rglob("*.py")
        if (hits := sorted(n for n in _imported(path) if n.split(".")[0] in BRIDGE))
    }
    assert found == {}


def test_the_scan_sees_relative_imports_and_imports_inside_functions(tmp_path, monkeypatch):
    """The scan itself: an import out of a room, at the top or in a function, is found."""
    fake = tmp_path / "mock_exist"
    (fake / "rules").mkdir(parents=True)
    probe = fake / "rules" / "probe.py"
    probe.write_text(
        "from ..control import checks\n"
        "from .store import Store\n"
        "def f():\n"
        "    from ..http.app import create_app\n"
        "    import mqtt_bridge.cli\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(f"{__name__}.PACKAGE", fake)
    names = _imported(probe) | {"mock_exist.__version__", "mock_exist"}
    assert {
        "mock_exist.control.checks",
        "mock_exist.rules.store",
        "mock_exist.http.app",
        "mqtt_bridge.cli",
    } <= names
    rooms = {_room(n) for n in names if n.split(".")[0] == "mock_exist"}
    assert rooms == {"control", "rules", "http", "top", None}
