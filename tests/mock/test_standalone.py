"""Issue 16 (5): mock-exist on its own: the ``mock`` extra, a pytest plugin that survives a
missing Flask, the Docker image's ``mock`` target, compose's ``mock`` service."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import requests

from mock_exist import cli as mock_cli
from mock_exist.server import MockServer

from ..support.docker import ENV_OFFLINE, load_compose, parse_mock_command, stages

ROOT = Path(__file__).resolve().parents[2]
BRIDGE_STACK = ("paho", "mqtt_bridge", "voluptuous", "yaml", "tenacity", "amqtt")


def _project() -> dict:
    """The mock-exist distribution's project (dists/mock-exist/pyproject.toml)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    text = (ROOT / "dists" / "mock-exist" / "pyproject.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_mock_needs_nothing_of_the_bridge():
    """Everything mock-exist runs (server, CLI, dashboard, conformance suite, plugin) imports only
    the mock-exist distribution's dependencies, never the bridge or its MQTT stack."""
    code = (
        "import sys, mock_exist.cli, mock_exist.server, mock_exist.conformance, "
        "mock_exist.pytest_plugin, mock_exist.http.dashboard_views\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {BRIDGE_STACK!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert _names(_project()["project"]["dependencies"]) == {
        "flask",
        "werkzeug",
        "waitress",
        "requests",
        "tzdata",
    }


def test_the_plugin_never_breaks_a_session_without_flask(tmp_path):
    hidden = tmp_path / "hide"
    (hidden / "flask").mkdir(parents=True)
    (hidden / "flask" / "__init__.py").write_text(
        "raise ImportError(\"No module named 'flask' (hidden by the test)\")\n"
    )
    tests = tmp_path / "session"
    tests.mkdir()
    (tests / "test_other.py").write_text(
        "def test_unrelated():\n    assert 1 + 1 == 2\n\n\n"
        "def test_wants_the_mock(mock_exist):\n    assert mock_exist.url\n"
    )
    env = {**os.environ, "PYTHONPATH": str(hidden)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-q", str(tests)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tests,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 skipped" in done.stdout
    assert "pip install mock-exist" in done.stdout


def _mock_stage():
    text = (ROOT / "docker" / "Dockerfile").read_text(encoding="utf-8")
    all_stages = stages(text)
    [mock] = [s for s in all_stages if s.name == "mock"]
    return mock, all_stages


def test_dockerfile_has_a_mock_target_running_only_mock_exist():
    mock, all_stages = _mock_stage()
    assert all_stages[-1] is not mock  # the default build stays the bridge
    last = {c.cmd: c for c in mock.commands}
    assert last["ENTRYPOINT"].json and list(last["ENTRYPOINT"].value) == ["mock-exist"]
    assert last["CMD"].json
    args, error = parse_mock_command(list(last["CMD"].value))
    assert args is not None, error
    assert (args.host, args.port) == ("0.0.0.0", 5000)
    assert last["USER"].value[0] == "10001:10001" and last["STOPSIGNAL"].value[0] == "SIGTERM"
    assert last["EXPOSE"].value[0] == "5000"
    runs = [c.value[0] for c in mock.commands if c.cmd == "RUN"]
    install = next(run for run in runs if "pip install" in run)
    words = set(install.split()) - {"pip", "install", "--no-index"}
    installed = {w for w in words if not w.startswith("--") and "=" not in w}
    assert installed == {"mock-exist"}  # the mock-exist distribution, nothing of the bridge
    assert any("useradd" in run and "--uid 10001" in run for run in runs)


def test_compose_mock_service_builds_the_mock_target_with_an_admin_token():
    service = load_compose(ENV_OFFLINE)["services"]["mock"]
    assert service["build"]["target"] == "mock"
    assert "entrypoint" not in service  # the mock image's own: mock-exist
    args, error = parse_mock_command(service["command"])
    assert args is not None, error
    assert args.host == "0.0.0.0" and args.admin_token == ENV_OFFLINE["EXIST_TOKEN"]
    assert "/_mock/health" in " ".join(service["healthcheck"]["test"])


def test_health_answers_without_the_admin_token_and_nothing_else_does():
    argv = load_compose(ENV_OFFLINE)["services"]["mock"]["command"]
    args = mock_cli.build_parser().parse_args(argv)
    with MockServer({"token": args.token, "admin_token": args.admin_token}) as server:
        assert requests.get(f"{server.url}/_mock/health", timeout=10).json() == {"ok": True}
        assert requests.get(f"{server.url}/_mock/state", timeout=10).status_code == 401
        assert requests.get(f"{server.url}/_mock/", timeout=10).status_code == 401
        r = requests.get(
            f"{server.url}/_mock/state",
            timeout=10,
            headers={"X-Mock-Admin-Token": args.admin_token},
        )
        assert r.status_code == 200
