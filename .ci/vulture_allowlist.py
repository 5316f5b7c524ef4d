"""Names vulture (the dead-code finder .ci/run runs over mock_exist/) reports as unused but that
are used where it cannot see: by Flask, by ``dataclasses.asdict``, by Python itself. One name a
line, with where and why; keep it short, and delete the code instead when it is really dead."""

# ruff: noqa: B018 (the lines are names for vulture to see, not code to run)
from types import SimpleNamespace

_ = SimpleNamespace()

_.__getattr__  # mock_exist/__init__.py: the module's lazy ``create_app`` (PEP 562)
_.sort_keys  # http/app.py: read by Flask's JSON provider
_.ensure_ascii  # http/app.py: read by Flask's JSON provider
_.fault  # http/app.py, fault_responses.py: flask.g, read with g.get; a journal field (asdict)
_.fault_rule  # http/fault_responses.py: flask.g, read with g.pop
_.fault_answered  # http/fault_responses.py: flask.g, read with g.pop
_.reset_connection  # http/fault_responses.py: flask.g, read with g.pop
_.seq  # rules/ledger.py: a ledger entry's field, read through asdict
_.DECIMAL  # rules/value_types.py: value type 1, in the table for completeness (the fall-through)
_.seed_average  # control/python_api.py: Python control API only (tests, bench/_readload.py)
_.seed_insight  # control/python_api.py: as seed_average
_.seed_correlation  # control/python_api.py: as seed_average
