"""Issue 11, item 4 (client side): while stopping, requests and retries end by a deadline."""

from __future__ import annotations

import time

import pytest
import requests
import responses

from mqtt_bridge.exist.errors import ConnectionFailed

from .conftest import API

UPDATE = API + "/attributes/update/"
ITEMS = [{"name": "steps", "date": "2024-01-02", "value": 1}]


def test_no_request_starts_after_the_deadline(rsps, client):
    rsps.add(responses.POST, UPDATE, json={"success": ITEMS, "failed": []})
    client.deadline = time.monotonic() - 1
    with pytest.raises(ConnectionFailed, match="stop deadline"):
        client.update(ITEMS)
    assert len(rsps.calls) == 0


def test_http_timeouts_shrink_to_the_deadline(rsps, make_client):
    client = make_client(timeout=(5.0, 30.0))
    rsps.add(responses.POST, UPDATE, json={"success": ITEMS, "failed": []})
    client.update(ITEMS)
    assert rsps.calls[0].request.req_kwargs["timeout"] == (5.0, 30.0)
    client.deadline = time.monotonic() + 2
    client.update(ITEMS)
    connect, read = rsps.calls[1].request.req_kwargs["timeout"]
    assert 0 < connect <= 2 and 0 < read <= 2


@pytest.mark.slow
def test_retries_stop_at_the_deadline(rsps, make_client):
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # real time passes (a little), the asked wait is kept
        waits.append(seconds)
        time.sleep(min(seconds, 0.2))

    client = make_client(max_attempts=50, backoff_base=1.0)
    client.sleep = sleep
    rsps.add(responses.POST, UPDATE, body=requests.ConnectionError("reset"))
    client.deadline = time.monotonic() + 1.5
    began = time.monotonic()
    with pytest.raises(ConnectionFailed):
        client.update(ITEMS)
    assert time.monotonic() - began < 3
    assert all(wait <= 1.5 for wait in waits)  # no wait reaches past the deadline
    assert len(rsps.calls) < 50
