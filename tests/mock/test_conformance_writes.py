"""The conformance suite writes only what its notice says and always releases what it created;
its loopback test parses the host (issue 16 review, item 5). Against the mock over real HTTP."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mock_exist.conformance import Suite, is_loopback_host
from mock_exist.server import MockServer, is_loopback


def _dates_written(server: MockServer, name: str) -> set[str]:
    return {e["date"] for e in server.state.ledger() if e["attribute"] == name}


def test_a_service_accepting_36_objects_still_gets_only_the_two_announced_dates():
    with MockServer({"max_items": 50}) as server:
        suite = Suite(server.url, server.token, out=lambda line: None)
        results = suite.run()
        failed = [r.name for r in results if not r.passed]
        assert failed == ["update: more than 35 objects is refused whole"]
        assert suite.attribute is not None
        assert _dates_written(server, suite.attribute) <= {
            suite.day.isoformat(),
            suite.day2.isoformat(),
        }
        assert set(server.state.values(suite.attribute)) <= {
            suite.day.isoformat(),
            suite.day2.isoformat(),
        }


def test_an_attribute_created_under_another_name_is_released_by_that_name():
    with MockServer() as server:
        suite = Suite(server.url, server.token, out=lambda line: None)
        suite.label += " renamed"  # the service names it ..._renamed: not the expected name
        results = suite.run()
        failed = [r.name for r in results if not r.passed]
        assert "create: a custom attribute named from its label" in failed
        created = f"mock_exist_conformance_{suite.suffix}_renamed"
        assert suite.attribute == created
        attribute = server.state.attribute(created)
        assert attribute is not None
        assert attribute["service"] is None and attribute["active"] is False  # released
        assert any(r.name.startswith("release") and r.passed for r in results)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("::1", True),
        ("localhost", True),
        ("127.example.com", False),
        ("127.0.0.1.nip.io", False),
        ("exist.io", False),
        ("10.0.0.1", False),
        ("", False),
    ],
)
def test_loopback_is_decided_by_parsing_the_address(host, loopback):
    assert is_loopback_host(host) is loopback
    if host:
        assert is_loopback(host) is loopback


def test_a_host_that_only_looks_like_loopback_needs_yes():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mock_exist.conformance",
            "--base-url",
            "http://127.example.invalid:9",
            "--token",
            "x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "pass --yes" in done.stderr
