"""The bridge's view of Exist's errors: a postponement's kind, and the token line from the
error's status (never parsed back out of its message)."""

from __future__ import annotations

import pytest

from mqtt_bridge.exist.errors import (
    AuthError,
    BudgetExhausted,
    ClientError,
    ConnectionFailed,
    CredentialsError,
    PermissionDenied,
    RateLimited,
    ServerError,
)
from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect, Outbox, OutboxError
from mqtt_bridge.pipeline.output.exist_output import ExistAdapter, token_refused
from mqtt_bridge.pipeline.output.flusher import Flusher, PostponeKind

from ..support.fake_exist_writer import FakeExist, classify

KEY = "exist.token"
PREFIX = f"Exist refused the token (check EXIST_TOKEN / token_file; here: {KEY}): "


@pytest.mark.parametrize(
    ("err", "kind", "seconds"),
    [
        (RateLimited("429", retry_after=42), PostponeKind.RATE_LIMITED, 42),
        (BudgetExhausted("spent", retry_after=0.2), PostponeKind.RATE_LIMITED, 1),
        (ServerError("502", 502), PostponeKind.UNAVAILABLE, 60),
        (ConnectionFailed("refused"), PostponeKind.UNAVAILABLE, 60),
        (AuthError("401", 401, "Invalid token"), PostponeKind.AUTHENTICATION, 600),
        (ClientError("405", 405), PostponeKind.REFUSED, 600),
    ],
)
def test_each_failed_flush_is_postponed_with_its_kind(err, kind, seconds):
    postpone = ExistAdapter(None, None, backoff=60, token_key=KEY).classify(err)
    assert (postpone.kind, postpone.seconds) == (kind, seconds)


def test_an_error_the_classifier_does_not_know_is_raised_again():
    with pytest.raises(KeyError):
        ExistAdapter(None, None).classify(KeyError("a bug"))


def test_the_token_line_takes_exists_words_from_the_errors_status_and_detail():
    err = AuthError("POST /api/2/attributes/update/: Exist refused the token (401: x)", 401, "x")
    assert token_refused(err, KEY) == PREFIX + "401: x"
    # the detail whole, parentheses and all (a pattern over the message stopped at the first ')')
    err = AuthError("GET /api/2/users/$self/profile/: ...", 401, "Invalid token (revoked)")
    assert token_refused(err, KEY) == PREFIX + "401: Invalid token (revoked)"


def test_without_a_status_the_token_line_gives_the_whole_message():
    # a message that merely looks like an answer is not parsed for one
    err = CredentialsError("cannot read token file t.json (401: not a status)")
    assert token_refused(err, KEY) == PREFIX + "cannot read token file t.json (401: not a status)"
    assert token_refused(PermissionDenied("403: no write scope", 403, "no"), KEY) is None
    assert token_refused(ServerError("502", 502), KEY) is None


def test_a_state_directory_failure_is_a_kind_of_its_own(tmp_path, monkeypatch):
    box = Outbox(tmp_path / "outbox.sqlite")
    box.commit([Commit(effects=[Effect("coffees", "2026-01-02", "update", 3)])])

    def full(*_: object) -> None:
        raise OutboxError("cannot write the state database: database or disk is full")

    monkeypatch.setattr(box, "claim", full)
    report = Flusher(box, FakeExist(), "UTC", classify).flush_once()
    assert report.postponed is not None
    assert report.postponed.kind is PostponeKind.STATE_DIRECTORY
    assert report.postponed.reason.startswith("state directory: cannot write")
    box.close()
