"""/livez (the add-on's watchdog, the image's HEALTHCHECK): 200 while the process runs and its
threads are alive, whatever the broker or Exist do (a restart can't fix those); 503 only when the
bridge itself is stopping or one of its threads has died. /healthz stays broker-aware. And the
ingress base path must be a single-slash absolute path."""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests

from mqtt_bridge.observe.state import health, liveness

from ..support.observe import running_view, serving


@pytest.fixture
def view(tmp_path):
    return running_view(tmp_path)


@pytest.fixture
def endpoint(view):
    with serving(view) as e:
        yield e


@pytest.mark.parametrize(
    "change",
    [{}, {"broker_connected": False}, {"phase": "starting"}],
    ids=["running", "broker-down", "starting"],
)
def test_livez_is_200_while_the_process_and_its_threads_live(endpoint, view, change):
    view.state = replace(view.state, **change)
    r = requests.get(endpoint.url + "/livez", timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "alive"
    assert r.headers["Content-Type"] == "application/json"


def test_broker_down_is_503_on_healthz_but_200_on_livez(endpoint, view):
    view.state = replace(view.state, broker_connected=False)
    assert requests.get(endpoint.url + "/healthz", timeout=5).status_code == 503
    assert requests.get(endpoint.url + "/livez", timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"phase": "stopping"}, "stopping"),
        ({"dead_threads": ("exist-bridge-writer",)}, "a thread of the bridge died: "),
    ],
)
def test_livez_is_503_when_the_bridge_itself_is_stuck_or_stopping(endpoint, view, change, reason):
    view.state = replace(view.state, **change)
    r = requests.get(endpoint.url + "/livez", timeout=5)
    assert r.status_code == 503
    assert r.json()["status"] == "dead"
    assert r.json()["reason"].startswith(reason)
    if "dead_threads" in change:
        assert "exist-bridge-writer" in r.json()["reason"]


def test_head_livez_has_no_body(endpoint):
    r = requests.head(endpoint.url + "/livez", timeout=5)
    assert r.status_code == 200 and r.content == b""


def test_a_dead_thread_also_makes_healthz_unhealthy(view):
    assert liveness(view.state).ok and health(view.state).ok
    dead = replace(view.state, dead_threads=("exist-bridge-flusher",))
    assert not liveness(dead).ok
    assert not health(dead).ok and "exist-bridge-flusher" in health(dead).reason


@pytest.mark.parametrize(
    "header", ["//evil.example", "//evil.example/x", "/api//evil", "/a/../b", "api/x"]
)
def test_the_ingress_path_must_be_a_single_slash_absolute_path(endpoint, header):
    page = requests.get(endpoint.url + "/", headers={"X-Ingress-Path": header}, timeout=5).text
    assert "<base" not in page


def test_a_real_ingress_path_still_sets_the_base(endpoint):
    prefix = "/api/hassio_ingress/aBc-123_x"
    page = requests.get(endpoint.url + "/", headers={"X-Ingress-Path": prefix}, timeout=5).text
    assert f'<base href="{prefix}/">' in page
