"""What a test may use only as an extra: things a user's clone doesn't have beside it (the
developers' ``../shared`` folder, a browser). Missing, the test is skipped with the reason, except
under ``CI=true``, where ``.ci/run`` provides them and a missing one is a broken set-up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def skip_or_fail(reason: str) -> None:
    """Skip the test with ``reason``; under ``CI=true`` fail it instead."""
    if os.environ.get("CI"):
        pytest.fail(f"missing in CI: {reason}")
    pytest.skip(reason)


def shared(relative: str, marker: str) -> Path:
    """``shared/<relative>`` beside the checkout (or beside one of its parents, for a worktree),
    recognised by the file ``marker`` inside it; skips (fails in CI) when it isn't there."""
    for parent in ROOT.parents:
        candidate = parent / "shared" / relative
        if (candidate / marker).is_file():
            return candidate
    skip_or_fail(f"shared/{relative} is not beside this checkout (only developers and CI have it)")
    raise AssertionError("unreachable")  # skip_or_fail raised
