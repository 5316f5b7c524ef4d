"""The ``slow`` marker follows what a test does (issue 23, 8): tests/support/processes.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from exist_demo import demo

from .support.mosquitto import Mosquitto
from .support.processes import NoProcesses, starts_processes


def _runs_a_command():
    return subprocess.run(["true"], check=False)


def _through_a_helper():
    return _runs_a_command()


def _imports_inside():
    import subprocess as sp

    return sp.run


def _starts_a_broker(tmp_path):
    return Mosquitto(tmp_path)


class _Harness:
    def start(self):
        return _through_a_helper()


def _uses_the_harness():
    return _Harness().start()


def _runs_the_demo_through_its_module():
    return demo.run_demo


def _pure(x: int) -> int:
    return sorted([x, 1])[0]


# by name in a tuple, so that this test itself reaches none of them (it stays fast)
SAMPLES = (
    _runs_a_command,
    _through_a_helper,
    _imports_inside,
    _starts_a_broker,
    _uses_the_harness,
    _runs_the_demo_through_its_module,
    _pure,
)


def test_what_reaches_a_process_is_found_directly_through_helpers_and_classes():
    found = {f.__name__: starts_processes(f) for f in SAMPLES}
    assert found == {
        "_runs_a_command": True,
        "_through_a_helper": True,
        "_imports_inside": True,
        "_starts_a_broker": True,
        "_uses_the_harness": True,
        "_runs_the_demo_through_its_module": True,
        "_pure": False,
    }


def test_a_test_that_is_not_slow_cannot_start_a_process():
    before = subprocess.Popen.__init__
    with NoProcesses(SimpleNamespace(nodeid="probe")), pytest.raises(AssertionError) as err:
        subprocess.run(["true"], check=False)
    assert "probe starts a process" in str(err.value) and "not marked slow" in str(err.value)
    assert subprocess.Popen.__init__ is before


# tests issue 23 found starting processes without the mark, and one of the same files that doesn't
STARTING = (
    "tests/mock/test_sigterm.py::test_sigterm_stops_serving_at_once_and_exits_0",
    "tests/edges/test_stop_during_startup.py::test_sigterm_while_waiting_for_the_profile_ends_"
    "within_the_stop_deadline",
    "tests/bridge/test_outbox_lost.py::test_a_lost_outbox_stops_the_start_until_accepted[delete]",
    "tests/mock/test_state_file.py::test_an_unreadable_state_file_is_a_one_line_error",
    "tests/bridge/test_edge_checks.py::test_check_refuses_a_ca_file_that_is_not_pem",
    "tests/firsthour/test_demo_screen.py::test_a_short_demo_run",
)
NOT_STARTING = "tests/bridge/test_outbox_lost.py::test_a_page_damaged_at_run_time_is_one_error_line"


def _listed(*args: str) -> str:
    files = sorted({test.split("::")[0] for test in STARTING})
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:xdist", "--collect-only", "-q", *args, *files],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_not_slow_deselects_every_test_that_starts_a_process():
    every, fast = _listed(), _listed("-m", "not slow")
    assert all(test in every for test in STARTING)  # the names are right
    assert [test for test in STARTING if test in fast] == []
    assert NOT_STARTING in fast
