"""``mock-exist --state FILE`` with explicit flags: the flags apply on top of the loaded state,
the banner shows what is in effect, and a --state path that cannot be written is refused at
start (issue 16 review, items 1 and 4). Real processes, real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys

import requests

from mock_exist import MockConfig, MockExist

from ..support.mock_cli import start_mock, stop_mock

OLD = "a" * 40
NEW = "b" * 40


def _saved_state(path) -> None:
    """A state file as a previous session would leave it: token OLD, Europe/London, limits."""
    mock = MockExist(MockConfig(token=OLD, timezone="Europe/London", rate_limit=50, max_items=20))
    mock.save_state(str(path))


def _banner(lines: list[str], key: str) -> str:
    return next(line for line in lines if line.strip().startswith(key)).split(":", 1)[1].strip()


def test_explicit_flags_apply_on_top_of_a_loaded_state(tmp_path):
    path = tmp_path / "state.json"
    _saved_state(path)
    proc, port, lines = start_mock(
        "--state",
        str(path),
        "--token",
        NEW,
        "--timezone",
        "Asia/Tokyo",
        "--rate-limit",
        "7",
        "--max-items",
        "3",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert _banner(lines, "user") == "mock (timezone Asia/Tokyo)"
        assert _banner(lines, "token") == NEW
        assert "7 requests per 3600 s per token" in _banner(lines, "limits")
        assert "at most 3 objects per write" in _banner(lines, "limits")
        profile = requests.get(
            f"{base}/api/2/accounts/profile/",
            timeout=10,
            headers={"Authorization": f"Bearer {NEW}"},
        )
        assert profile.status_code == 200, profile.text
        assert profile.json()["timezone"] == "Asia/Tokyo"
        # the loaded state is kept: the old token still works
        old = requests.get(
            f"{base}/api/2/accounts/profile/",
            timeout=10,
            headers={"Authorization": f"Bearer {OLD}"},
        )
        assert old.status_code == 200
        assert requests.get(f"{base}/_mock/rate-limit", timeout=10).json()["limit"] == 7
        r = requests.post(
            f"{base}/api/2/attributes/update/",
            timeout=10,
            headers={"Authorization": f"Bearer {NEW}"},
            json=[{"name": "x", "date": "2025-01-01", "value": 1}] * 4,
        )
        assert r.status_code == 400, r.text  # 4 objects over --max-items 3
    finally:
        out, err = stop_mock(proc)
    assert proc.returncode == 0, err
    saved = json.loads(path.read_text())
    assert saved["config"]["rate_limit"] == 7
    assert saved["config"]["max_items"] == 3
    assert saved["users"]["mock"]["timezone"] == "Asia/Tokyo"


def test_without_flags_the_banner_shows_the_loaded_state(tmp_path):
    path = tmp_path / "state.json"
    _saved_state(path)
    proc, port, lines = start_mock("--state", str(path))
    try:
        assert _banner(lines, "user") == "mock (timezone Europe/London)"
        assert _banner(lines, "token") == OLD
        assert "50 requests per 3600 s per token" in _banner(lines, "limits")
        assert "at most 20 objects per write" in _banner(lines, "limits")
        assert (
            requests.get(f"http://127.0.0.1:{port}/_mock/rate-limit", timeout=10).json()["limit"]
            == 50
        )
    finally:
        out, err = stop_mock(proc)
    assert proc.returncode == 0, err


def _refused(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mock_exist.cli", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_state_file_in_a_missing_directory_is_refused_at_start(tmp_path):
    path = tmp_path / "no-such-dir" / "state.json"
    done = _refused("--state", str(path))
    assert done.returncode == 2, done.stdout
    assert "listening" not in done.stdout  # refused before serving
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"mock-exist: cannot use state file {path}: ")
    assert "Traceback" not in done.stderr


def test_a_state_file_under_a_regular_file_is_refused_at_start(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    path = blocker / "state.json"
    done = _refused("--state", str(path))
    assert done.returncode == 2, done.stdout
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"cannot use state file {path}" in done.stderr


def test_a_directory_as_state_file_is_refused_at_start(tmp_path):
    done = _refused("--state", str(tmp_path))
    assert done.returncode == 2, done.stdout
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"state file {tmp_path}" in done.stderr
