"""exist.base_url mistakes: a doubled scheme is refused by `check`, and an Exist that can't be
reached at start is logged naming exist.base_url."""

from __future__ import annotations

import logging
import socket

import pytest

from mqtt_bridge.config import ConfigError, parse_config
from mqtt_bridge.service import Bridge

from ..support.cli import cli
from ..support.config import bridge_config
from ..support.waiting import wait_until


def _text(url: str, tmp_path) -> str:
    return bridge_config(
        url=url,
        token="t0ken",
        port=1,
        state_dir=tmp_path / "state",
        attributes=[{"template": "coffees"}],
        mappings=[{"topic": "a", "attribute": "coffees"}],
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://http://127.0.0.1:36119",
        "https://",
        "http://:80",
        "http://exist..io",
        "http://exist io",
        "http://127.0.0.1:99999",
        "http://host:port",
    ],
)
def test_a_base_url_without_a_proper_host_is_refused(url, tmp_path):
    with pytest.raises(ConfigError) as err:
        parse_config(_text(url, tmp_path))
    assert "exist.base_url" in str(err.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://exist.io",
        "http://127.0.0.1:36119",
        "http://localhost:8080/",
        "http://[::1]:80",
        "http://mock-exist:5000",
    ],
)
def test_good_base_urls_still_pass(url, tmp_path):
    assert parse_config(_text(url, tmp_path)).exist.base_url == url.rstrip("/")


def test_the_doubled_scheme_is_explained(tmp_path):
    with pytest.raises(ConfigError) as err:
        parse_config(_text("http://http://127.0.0.1:36119", tmp_path))
    assert "twice" in str(err.value)


def test_an_unreachable_exist_at_start_names_exist_base_url(tmp_path, caplog):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bridge = Bridge(parse_config(_text(f"http://127.0.0.1:{port}", tmp_path)))
    try:
        with caplog.at_level(logging.WARNING):
            bridge.start()
            wait_until(
                lambda: any(
                    "attribute set-up with Exist failed" in r.getMessage() for r in caplog.records
                ),
                timeout=60,
            )
        line = next(
            r.getMessage()
            for r in caplog.records
            if "attribute set-up with Exist failed" in r.getMessage()
        )
        assert f"exist.base_url http://127.0.0.1:{port}" in line, line
    finally:
        bridge.stop()


@pytest.mark.parametrize("url", ["https://exist.io/api/2/", "http://127.0.0.1:5000/api/2"])
def test_a_base_url_copied_with_the_apis_path_is_refused_by_check(url, tmp_path):
    path = tmp_path / "bridge.yaml"
    path.write_text(_text(url, tmp_path))
    done = cli("check", "-c", str(path))
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        f"exist.base_url: {url!r} ends in the API's path: give the server only, like "
        "https://exist.io (the bridge adds /api/2 itself)"
    ) in done.stderr
