"""A total Exist answers ``not_found`` for (a mistyped attribute) is parked like a ``validation``
refusal: shown in ``status`` with the reason, never a request per flush."""

from __future__ import annotations

import logging

from mqtt_bridge.config import parse_config
from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect, Outbox
from mqtt_bridge.pipeline.output.exist_output import make_client
from mqtt_bridge.pipeline.output.flusher import Flusher

CONFIG = """
exist:
  base_url: {url}
  token: {token}
  timezone: UTC
bridge:
  state_dir: {state}
mappings:
  - topic: t/coffee
    attribute: cofees
  - topic: t/steps
    attribute: steps
attributes:
  - template: steps
"""


def test_not_found_is_parked_and_not_retried(mock_exist, tmp_path, caplog):
    config = parse_config(
        CONFIG.format(url=mock_exist.url, token=mock_exist.token, state=tmp_path / "state")
    )
    exist = make_client(config, tmp_path / "state")
    exist.bootstrap()
    box = Outbox(tmp_path / "state" / "outbox.sqlite")
    box.commit(
        [
            Commit(
                effects=[
                    Effect("cofees", "2026-11-29", "increment", 1),
                    Effect("steps", "2026-11-29", "update", 1234),
                ]
            )
        ]
    )
    flusher = Flusher(box, exist, "UTC", exist.classify, 3600)

    def writes() -> int:
        return sum(
            1
            for j in mock_exist.state.journal("/api/2/attributes/")
            if j["path"].endswith(("/update/", "/increment/"))
        )

    with caplog.at_level(logging.INFO):
        first = flusher.flush_once()
    assert first.parked == 1
    assert [p.attribute for p in box.pending()] == []
    refused = box.status()["refused"]
    assert [(r["attribute"], r["date"], r["code"]) for r in refused] == [
        ("cofees", "2026-11-29", "not_found")
    ]
    assert any(
        "cofees" in r.getMessage() and "not_found" in r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR
    )
    before = writes()
    again = flusher.flush_once()
    assert (again.requests, writes()) == (0, before)  # nothing left to send: no request
    # the row changes (a new event): it is tried once more
    box.commit([Commit(effects=[Effect("cofees", "2026-11-29", "increment", 1)])])
    third = flusher.flush_once()
    assert third.requests >= 1 and third.parked == 1
