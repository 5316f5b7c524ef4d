"""Issue 11 leftover: the Python control API checks its input itself (models without Flask)."""

from __future__ import annotations

import pytest

from mock_exist import MockExist
from mock_exist.control.checks import ControlError


@pytest.mark.parametrize(
    "call, field",
    [
        (lambda m: m.set_rate_limit("5"), "limit"),
        (lambda m: m.set_rate_limit(-1), "limit"),
        (lambda m: m.set_rate_limit(5, window=0), "window"),
        (lambda m: m.set_rate_limit(5, mode="lazy"), "mode"),
        (lambda m: m.set_max_items(0), "max_items"),
        (lambda m: m.add_fault("/x", status="500"), "status"),
        (lambda m: m.add_fault("/x", latency=1e300), "latency"),
        (lambda m: m.add_fault("/x", probability=0), "probability"),
        (lambda m: m.add_fault("/x", mode="truncated_json", apply=False), "apply"),
        (lambda m: m.issue_token(expires_in=10**400), "expires_in"),
        (lambda m: m.issue_token(scopes=["nope"]), "scopes"),
        (lambda m: m.set_clock(advance=1e20), "advance"),
        (lambda m: m.set_clock(now="2024-01-01T00:00:00"), "now"),
        (lambda m: m.seed_attribute("zz", value_type=99), "value_type"),
        (lambda m: m.seed_attribute("zz", values={"2024-01-01": 10**400}), "values"),
        (lambda m: m.add_user("bob", timezone="Mars/Olympus"), "timezone"),
        (lambda m: m.add_client("c", "s", username="nobody"), "username"),
    ],
)
def test_python_control_calls_refuse_bad_values_naming_the_field(call, field):
    mock = MockExist()
    mock.set_clock("2024-03-01T12:00:00+00:00")
    before = mock.dump()
    with pytest.raises(ControlError) as refused:
        call(mock)
    assert refused.value.field == field and str(refused.value).startswith(field + ":")
    assert mock.dump() == before  # nothing half-applied


def test_the_rules_and_control_rooms_import_no_flask():
    """Every module of rules/ and control/ (and ``import mock_exist``) works without Flask."""
    import subprocess
    import sys

    code = (
        "import importlib, pkgutil, sys, mock_exist, mock_exist.rules, mock_exist.control\n"
        "for room in (mock_exist.rules, mock_exist.control):\n"
        "    for m in pkgutil.iter_modules(room.__path__, room.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "print(sum(m.startswith('mock_exist.') for m in sys.modules), 'flask' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    loaded, flask = done.stdout.split()
    assert int(loaded) >= 10 and flask == "False", done.stderr


@pytest.mark.parametrize("text", ["2024-03-09T22:50:00Z", "2024-03-09T22:50:00+00:00"])
def test_the_clock_takes_utc_written_with_z_on_every_python(text):
    """Python 3.10's ``fromisoformat`` refuses a trailing "Z"; the mock must not."""
    from mock_exist.control.checks import instant

    when = instant("now", text)
    assert when.isoformat() == "2024-03-09T22:50:00+00:00"
