"""Issue 5, scenario 6: the OAuth2 access token expires mid-stream. The bridge uses a token file
written the way ``exist-bridge authorize`` writes it; the mock's clock then jumps a year, so Exist
answers 401 for the old token. Exactly one refresh must happen (Exist rotates both tokens, so a
second refresh with the old refresh token would fail), the new pair must be saved to the token
file, writing must carry on, and nothing may be lost or counted twice."""

from __future__ import annotations

import json
import random
import time

import pytest

from mqtt_bridge.exist.tokens import TokenFile, TokenSet

from ..support.faults import (
    FaultBridge,
    assert_never_double_counted,
    config_text,
    landed,
    report,
)

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject


def test_expired_access_token_is_refreshed_exactly_once(mock_exist, mosquitto, tmp_path):
    rng = random.Random(5_0006)
    state = mock_exist.state
    issued = state.issue_token(client_id="mock_client")  # a year, every scope
    token_file = tmp_path / "exist-token.json"
    TokenFile(token_file).save(
        TokenSet.from_response(issued, time.time(), "mock_client", "mock_secret")
    )
    credentials = {
        "token_file": str(token_file),
        "client_id": "mock_client",
        "client_secret": "mock_secret",
    }
    text = config_text(mock_exist, mosquitto.port, tmp_path / "state", credentials=credentials)
    fb = FaultBridge(mock_exist, mosquitto, tmp_path / "state", text=text)
    try:
        fb.events(rng, 20, pause_every=5, pause=0.3)
        fb.settle()
        fb.wait_delivered()
        assert not state.journal("/oauth2/")

        state.clock.advance(366 * 86400)  # the access token is now a day past its expiry
        fb.events(rng, 40, pause_every=5, pause=0.3)
        fb.settle()
        fb.wait_delivered(timeout=60)

        refreshes = state.journal("/oauth2/access_token")
        assert [(j["method"], j["status"]) for j in refreshes] == [("POST", 200)]
        unauthorised = [j for j in state.journal("/api/2/") if j["status"] == 401]
        assert len(unauthorised) == 1  # the old token was refused once, then never used again
        saved = json.loads(token_file.read_text())
        assert saved["access_token"] != issued["access_token"]
        assert saved["refresh_token"] != issued["refresh_token"]
        after = [j for j in state.journal("/api/2/") if j["id"] > refreshes[0]["id"]]
        assert after and all(j["status"] in (200, 202) for j in after)
        assert landed(state) == dict(fb.truth)
        assert_never_double_counted(state, fb.truth)
        report(
            "6 token expiry",
            "mock clock +366 days (access token expired): 1 x 401, 1 refresh",
            fb.published,
            state,
            fb.truth,
        )
    finally:
        fb.close()
