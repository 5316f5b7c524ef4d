"""A 200 answer to a write that is not JSON (a captive portal, a proxy page) is a "malformed
answer" that says what was wrong and how it starts, logged once per kind, not once per try."""

from __future__ import annotations

import logging

import pytest

from mqtt_bridge.exist.errors import ExistError

from .conftest import API


def test_a_non_json_answer_says_so_with_its_first_bytes(rsps, make_client, caplog):
    rsps.post(
        f"{API}/attributes/update/",
        body="<html><title>Hotel WiFi login</title>",
        status=200,
        content_type="text/html",
    )
    client = make_client()
    with caplog.at_level(logging.WARNING, logger="exist_bridge"):
        for _ in range(3):
            with pytest.raises(ExistError) as err:
                client.update([{"name": "steps", "date": "2026-11-29", "value": 1}])
            text = str(err.value)
            assert "update: malformed answer from Exist (200): not JSON" in text, text
            assert "<html><title>Hotel WiFi" in text
    said = [r for r in caplog.records if "not JSON" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in said]


def test_json_that_is_not_an_object_is_named(rsps, make_client):
    rsps.post(f"{API}/attributes/update/", json=[1, 2], status=200)
    with pytest.raises(ExistError) as err:
        make_client().update([{"name": "steps", "date": "2026-11-29", "value": 1}])
    assert "malformed answer from Exist (200): a JSON list, not an object" in str(err.value)
