"""After fixing an attribute's typo (cofees -> coffees) the refused `cofees` rows would stay
refused for ever, silently: the start says so (once), `status` lists them with how to clear them,
and `status --forget-refused cofees` clears them (only refused rows of an attribute no mapping
uses; counts are never moved to another attribute)."""

from __future__ import annotations

import io
import json
import logging

from mqtt_bridge import cli
from mqtt_bridge.config import parse_config
from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect, Outbox
from mqtt_bridge.service import Bridge
from mqtt_bridge.state_dir import OUTBOX_FILE

from ..support.config import bridge_config


def _text(tmp_path) -> str:
    return bridge_config(
        url="http://127.0.0.1:9",
        token="t0ken",
        port=1,
        state_dir=tmp_path / "state",
        attributes=[{"template": "coffees"}],
        mappings=[{"topic": "a", "attribute": "coffees"}],
        bridge={"stop_timeout": 2},
    )


def _refused_cofees(tmp_path) -> None:
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    box = Outbox(state / OUTBOX_FILE)
    try:
        box.commit(
            [
                Commit(
                    mid=1,
                    topic="a",
                    digest=b"1",
                    effects=[
                        Effect("cofees", "2026-11-28", "increment", 3),
                        Effect("coffees", "2026-11-28", "increment", 1),
                    ],
                )
            ]
        )
        row = next(p for p in box.pending() if p.attribute == "cofees")
        box.mark_failed("cofees", "2026-11-28", row.version, "not_found", "no such attribute")
    finally:
        box.close()


def _status(cfg, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(["status", "-c", str(cfg), *args], out, err)
    return code, out.getvalue(), err.getvalue()


def test_the_start_says_refused_rows_of_an_unused_attribute_exist(tmp_path, caplog):
    _refused_cofees(tmp_path)
    with caplog.at_level(logging.WARNING):
        bridge = Bridge(parse_config(_text(tmp_path)))
        try:
            bridge.start()
        finally:
            bridge.stop()
    lines = [r.getMessage() for r in caplog.records if "no mapping uses" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "cofees" in lines[0] and "--forget-refused cofees" in lines[0]


def test_status_lists_them_and_forget_refused_clears_only_them(tmp_path):
    _refused_cofees(tmp_path)
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text(_text(tmp_path))
    code, out, err = _status(cfg, "--json")
    assert json.loads(out)["refused_unused"] == {"cofees": 1}
    code, out, err = _status(cfg)
    assert "--forget-refused cofees" in out
    code, out, err = _status(cfg, "--forget-refused", "coffees")  # a mapping uses it: refused
    assert code == 1 and "a mapping uses" in err
    code, out, err = _status(cfg, "--forget-refused", "cofees")
    assert code == 0, err
    assert "forgot 1 refused total(s) of cofees" in out
    code, out, err = _status(cfg, "--json")
    data = json.loads(out)
    assert data["refused_unused"] == {}
    assert data["refused"] == []
    assert data["pending_rows"] == 1  # coffees' own total is untouched
