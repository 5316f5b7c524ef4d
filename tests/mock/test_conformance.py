"""Issue 16 (4): the conformance suite, run against the mock as CI does (a real subprocess)."""

from __future__ import annotations

import subprocess
import sys

from mock_exist.conformance import Suite
from mock_exist.server import MockServer


def conformance(server: MockServer, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mock_exist.conformance",
            "--base-url",
            server.url,
            "--token",
            server.token,
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_the_conformance_suite_passes_against_the_mock(mock_exist):
    done = conformance(mock_exist)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"mock-exist conformance suite against {mock_exist.url}")
    assert "ONE custom attribute" in done.stdout and "release it at the end" in done.stdout
    checks = [line for line in lines if line.startswith(("PASS", "FAIL"))]
    assert len(checks) >= 20 and all(line.startswith("PASS") for line in checks), checks
    assert f"{len(checks)} passed, 0 failed" in lines
    # it wrote to nothing but its own attribute, and released it
    touched = {entry["attribute"] for entry in mock_exist.state.ledger()}
    [name] = touched
    assert name.startswith("mock_exist_conformance_")
    attribute = mock_exist.state.attribute(name)
    assert attribute["service"] is None and attribute["active"] is False


def test_it_reports_where_a_service_differs():
    """A service that allows 50 objects per write: the 35-object check fails, the rest pass."""
    with MockServer({"max_items": 50}) as server:
        done = conformance(server)
    assert done.returncode == 1
    assert "FAIL  update: more than 35 objects is refused whole" in done.stdout
    assert "status 200" in done.stdout
    assert "1 failed" in done.stdout.splitlines()[-2]


def test_a_bad_token_stops_early_and_fails():
    with MockServer() as server:
        results = Suite(server.url, "f" * 40, out=lambda line: None).run()
    assert [r.name for r in results if not r.passed] == ["profile: 200 with username and timezone"]
    assert server.state.ledger() == []


def test_a_non_loopback_host_needs_yes():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mock_exist.conformance",
            "--base-url",
            "https://exist.invalid",
            "--token",
            "x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert "pass --yes" in done.stderr and "ONE custom attribute" in done.stdout
