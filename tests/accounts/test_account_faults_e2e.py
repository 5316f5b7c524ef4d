"""One account's trouble at Exist holds back only that account: bob's token refused (401), or
Exist answering bob's token with 429, while alice's day lands exactly; the status endpoints say
whose trouble it is (real mosquitto, the mock over HTTP, the bridge in-process)."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from mqtt_bridge.config import parse_config
from mqtt_bridge.observe import HttpEndpoint

from ..support.bridge import start_bridge
from ..support.mqtt import Publisher
from .household import add_bob, committed, flush_all, household_config, landed, me, publish_day

pytestmark = pytest.mark.slow  # mosquitto and the mock: see pyproject


def by_account(url: str, name: str) -> dict[str, float]:
    """The metric ``name``'s value per account label."""
    text = requests.get(url + "/metrics", timeout=5).text
    return {
        s.labels["account"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def household_day(mock, broker, tmp_path, bob_token: str):
    """A household's day through a bridge whose bob token is ``bob_token``; flushed once."""
    bridge = start_bridge(
        parse_config(household_config(mock, broker.port, tmp_path / "state", bob_token))
    )
    endpoint = HttpEndpoint(bridge, "127.0.0.1", 0).start()
    pub = Publisher(broker.port)
    try:
        truth = publish_day(pub)
        committed(bridge, truth["messages"])
        flush_all(bridge)
    except BaseException:
        pub.close()
        endpoint.stop()
        bridge.stop()
        raise
    pub.close()
    return bridge, endpoint, truth


def test_bobs_refused_token_holds_back_only_bobs_totals(mock_exist, mosquitto, tmp_path):
    add_bob(mock_exist)
    bridge, endpoint, truth = household_day(mock_exist, mosquitto, tmp_path, "not-bobs-token")
    try:
        assert landed(mock_exist, me(mock_exist)) == truth["alice"]
        assert set(landed(mock_exist, "bob").values()) == {None}
        assert by_account(endpoint.url, "exist_bridge_pending_totals") == {"alice": 0, "bob": 3}
        health = requests.get(endpoint.url + "/healthz", timeout=5)
        assert health.status_code == 503
        assert health.json()["reason"].startswith("waiting: account bob: ")
        accounts = bridge.status()["accounts"]
        assert accounts["alice"]["token_refused"] is None
        assert "401" in accounts["bob"]["token_refused"]
    finally:
        endpoint.stop()
        bridge.stop()


def test_exist_answering_bobs_token_429_holds_back_only_bobs_totals(
    mock_exist, mosquitto, tmp_path
):
    bob = add_bob(mock_exist)
    mock_exist.state.set_rate_limit(40, window=3600)
    for _ in range(40):  # bob's token has used Exist's hour elsewhere
        requests.get(
            mock_exist.url + "/api/2/accounts/profile/",
            headers={"Authorization": f"Bearer {bob}"},
            timeout=5,
        )
    bridge, endpoint, truth = household_day(mock_exist, mosquitto, tmp_path, bob)
    try:
        assert landed(mock_exist, me(mock_exist)) == truth["alice"]
        assert set(landed(mock_exist, "bob").values()) == {None}
        assert by_account(endpoint.url, "exist_bridge_exist_rate_limited_total") == {
            "alice": 0,
            "bob": 1,
        }
        assert by_account(endpoint.url, "exist_bridge_pending_totals") == {"alice": 0, "bob": 3}
        postponed = bridge.status()["accounts"]["bob"]
        assert postponed["pending_rows"] == 3
        flush_all(bridge)  # postponed: bob's flush sends nothing more until the pause is over
        assert by_account(endpoint.url, "exist_bridge_exist_rate_limited_total")["bob"] == 1
    finally:
        endpoint.stop()
        bridge.stop()
