"""The SQLite outbox: running totals, versions, bases, redelivery ring, dead letters."""

from __future__ import annotations

import pytest

from mqtt_bridge.pipeline.buffer.outbox import RECENT_SLOTS, Commit, Effect, Outbox, OutboxError


@pytest.fixture
def box(tmp_path):
    b = Outbox(tmp_path / "state" / "outbox.sqlite")
    yield b
    b.close()


def inc(attr: str, day: str, value=1, mid: int = 0, topic: str = "t") -> Commit:
    return Commit(
        mid=mid, topic=topic, digest=b"d" * 16, effects=[Effect(attr, day, "increment", value)]
    )


def test_increments_accumulate_and_wait_for_a_base(box):
    box.commit([inc("coffees", "2024-01-01")] * 3)
    (row,) = box.pending()
    assert (row.attribute, row.date, row.version, row.events) == ("coffees", "2024-01-01", 3, 3)
    assert row.base_known is False and row.total is None
    box.set_base("coffees", "2024-01-01", 4)
    (row,) = box.pending()
    assert row.total == 7 and isinstance(row.total, int)


def test_base_is_learned_once(box):
    box.commit([inc("coffees", "2024-01-01")])
    box.set_base("coffees", "2024-01-01", 4)
    box.set_base("coffees", "2024-01-01", 99)  # a later (re)learn must not move it
    assert box.pending()[0].total == 5


def test_a_null_base_counts_as_zero(box):
    box.commit([inc("steps_distance", "2024-01-01", 1.5), inc("steps_distance", "2024-01-01", 2)])
    box.set_base("steps_distance", "2024-01-01", None)
    assert box.pending()[0].total == 3.5


def test_mark_sent_only_covers_the_version_that_was_sent(box):
    box.commit([inc("coffees", "2024-01-01")])
    box.set_base("coffees", "2024-01-01", 0)
    (sent,) = box.pending()
    box.commit([inc("coffees", "2024-01-01")])  # arrives while the write is in flight
    box.mark_sent("coffees", "2024-01-01", sent.version, sent.total)
    (again,) = box.pending()
    assert again.total == 2 and again.version == sent.version + 1
    box.mark_sent("coffees", "2024-01-01", again.version, again.total)
    assert box.pending() == []
    assert box.status()["last_sync"] is not None


def test_update_mode_keeps_the_last_total(box):
    box.commit([Commit(effects=[Effect("steps", "2024-01-01", "update", v)]) for v in (10, 30, 20)])
    (row,) = box.pending()
    assert row.total == 20 and row.base_known is False and row.mode == "update"


def test_refused_versions_are_parked_until_the_row_changes(box):
    box.commit([Commit(effects=[Effect("mood", "2024-01-01", "update", 12)])])
    (row,) = box.pending()
    box.mark_failed("mood", "2024-01-01", row.version, "validation", "Value must be 1-9")
    assert box.pending() == []
    assert box.status()["refused"] == [
        {
            "account": "",
            "attribute": "mood",
            "date": "2024-01-01",
            "code": "validation",
            "error": "Value must be 1-9",
        }
    ]
    box.commit([Commit(effects=[Effect("mood", "2024-01-01", "update", 7)])])
    assert box.pending()[0].total == 7


def test_resend_marks_a_delivered_day_again(box):
    box.commit([inc("coffees", "2024-01-01"), inc("coffees", "2024-01-02")])
    for row in box.pending():
        box.set_base(row.attribute, row.date, 0)
    for row in box.pending():
        box.mark_sent(row.attribute, row.date, row.version, row.total)
    assert box.resend("2024-01-01") == 1
    assert [(r.date, r.total) for r in box.pending()] == [("2024-01-01", 1)]


def test_state_survives_reopening(tmp_path):
    path = tmp_path / "o.sqlite"
    b = Outbox(path)
    b.commit(
        [
            inc("coffees", "2024-01-01", mid=7, topic="door"),
            Commit(mid=8, topic="door", digest=b"x" * 16, states={"0:door": True}),
        ]
    )
    b.close()
    b = Outbox(path)
    assert b.recent() == {7: ("door", b"d" * 16), 8: ("door", b"x" * 16)}
    assert b.edge_states() == {"0:door": True}
    assert b.pending()[0].events == 1


def test_recent_ring_keeps_the_newest_slots(box):
    box.commit([inc("a", "2024-01-01", mid=i + 1) for i in range(RECENT_SLOTS + 10)])
    recent = box.recent()
    assert len(recent) == RECENT_SLOTS
    assert min(recent) == 11 and max(recent) == RECENT_SLOTS + 10
    assert list(recent)[-1] == RECENT_SLOTS + 10  # oldest first, newest last


def test_dead_letters_and_counters(box):
    box.commit(
        [
            Commit(
                topic="t",
                dead=[("not_json", "mapping 0: bad", b"\xff" * 10_000)],
                counters={"messages": 1, "bad_input.not_json": 1},
            )
        ]
        * 2
    )
    status = box.status()
    assert status["dead_letters"] == {"not_json": 2}
    assert status["counters"] == {"messages": 2, "bad_input.not_json": 2}
    stored = box.db.execute("SELECT length(payload) FROM dead_letters").fetchall()
    assert stored == [(4096,), (4096,)]  # payloads are truncated


def test_a_failing_commit_writes_nothing(box):
    class Boom(Exception):
        pass

    def commits():
        yield inc("coffees", "2024-01-01")
        raise Boom

    with pytest.raises(Boom):
        box.commit(commits())
    assert box.pending() == []


def test_unusable_state_directory_is_a_clear_error(tmp_path):
    (tmp_path / "state").write_text("a file where the state directory should be")
    with pytest.raises(OutboxError, match="cannot use the state database"):
        Outbox(tmp_path / "state" / "o.sqlite")


def test_a_database_that_is_not_sqlite_is_a_clear_error(tmp_path):
    path = tmp_path / "o.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(OutboxError, match="cannot use the state database"):
        Outbox(path)
