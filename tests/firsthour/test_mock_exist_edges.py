"""mock-exist over HTTP (issue 24, item 9): `/oauth2/access_token` parses a JSON body with the
API's own parser (a body nested too deeply is a 400, never a 500), and the dashboard's clock form
shows `frozen` ticked only while the clock is frozen; a state file nested too deeply is refused
in one line."""

from __future__ import annotations

import re
import subprocess
import sys

import requests


def nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def test_a_deeply_nested_token_request_is_answered_like_any_malformed_body(mock_exist):
    url = mock_exist.url.rstrip("/") + "/oauth2/access_token"
    auth = ("no-such-client", "secret")
    json_type = {"Content-Type": "application/json"}

    def post(body: str) -> requests.Response:
        return requests.post(url, data=body, headers=json_type, auth=auth, timeout=10)

    malformed = post("{not json")
    assert malformed.status_code in (400, 401)
    for body in (nested(100_000), nested(150)):
        r = post(body)
        assert (r.status_code, r.json()) == (malformed.status_code, malformed.json()), r.text[:200]
    api = requests.post(  # the API endpoints' answer to it: a 400
        mock_exist.url.rstrip("/") + "/api/2/attributes/update/",
        data=nested(100_000),
        headers={**json_type, "Authorization": f"Bearer {mock_exist.token}"},
        timeout=10,
    )
    assert api.status_code == 400
    assert "nested more than 100 levels deep" in api.text


def frozen_box(mock_exist) -> str:
    page = requests.get(mock_exist.url.rstrip("/") + "/_mock/", timeout=10).text
    [box] = re.findall(r'<input type="checkbox" name="frozen"[^>]*>', page)
    return box


def test_the_clock_form_shows_the_clock_as_it_is(mock_exist):
    assert "checked" not in frozen_box(mock_exist)  # the clock runs
    clock = mock_exist.url.rstrip("/") + "/_mock/clock"
    set_ = requests.post(clock, json={"now": "2026-01-02T03:04:05Z", "frozen": True}, timeout=10)
    assert set_.status_code == 200, set_.text
    assert "checked" in frozen_box(mock_exist)
    assert requests.post(clock, json={"resume": True}, timeout=10).status_code == 200
    assert "checked" not in frozen_box(mock_exist)


def test_a_deeply_nested_state_file_is_refused_in_one_line(tmp_path):
    state = tmp_path / "state.json"
    state.write_text(nested(100_000))
    done = subprocess.run(
        [sys.executable, "-m", "mock_exist.cli", "--port", "0", "--state", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "mock-exist: cannot load state file" in done.stderr
    assert "nested too deeply" in done.stderr and "Traceback" not in done.stderr
