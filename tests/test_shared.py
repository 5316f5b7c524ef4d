"""tests/support/shared.py: made once per run, whichever pytest-xdist worker asks first."""

from __future__ import annotations

import pytest

from .support.shared import once_per_run


def test_made_once_then_reused_and_remade_after_a_failed_attempt(tmp_path_factory, monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    name = f"probe-{id(object())}"
    calls = []

    def fail(path):
        (path / "half").write_text("half made")
        raise RuntimeError("the maker failed")

    with pytest.raises(RuntimeError):
        once_per_run(tmp_path_factory, name, fail)

    def make(path):
        calls.append(path)
        (path / "made").write_text("ok")

    first = once_per_run(tmp_path_factory, name, make)
    again = once_per_run(tmp_path_factory, name, make)
    assert first == again and len(calls) == 1
    assert sorted(p.name for p in first.iterdir()) == ["made"]  # the half-made one is gone
