"""The client against the real mock (``mock_exist`` fixture) over HTTP.

The client's clock and sleep are tied to the mock's clock (frozen), so a ``Retry-After`` the
client sleeps through really passes on the mock and no test waits.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from mqtt_bridge import cli
from mqtt_bridge.exist.attributes import AttributeManager
from mqtt_bridge.exist.budget import RequestBudget
from mqtt_bridge.exist.client import ExistClient
from mqtt_bridge.exist.errors import BudgetExhausted, OutcomeUnknown, RateLimited
from mqtt_bridge.exist.tokens import OAuthCredentials, TokenFile, TokenSet

START = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
TODAY = "2024-05-01"
REPO = Path(__file__).resolve().parents[2]


class MockTime:
    """The client's clock and sleep, driven by the mock's (frozen) clock."""

    def __init__(self, mock_clock):
        self.mock_clock = mock_clock
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.mock_clock.timestamp()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.mock_clock.advance(seconds)


@pytest.fixture
def mock_time(mock_exist) -> MockTime:
    mock_exist.state.clock.set(START, frozen=True)
    return MockTime(mock_exist.state.clock)


@pytest.fixture
def make_client(mock_exist, mock_time):
    def make(credentials=None, **kwargs) -> ExistClient:
        kwargs.setdefault("budget", RequestBudget(clock=mock_time))
        return ExistClient(
            credentials or mock_exist.token,
            base_url=mock_exist.url,
            clock=mock_time,
            sleep=mock_time.sleep,
            timeout=(5, 10),
            **kwargs,
        )

    return make


def journal(mock_exist, path: str) -> list[dict]:
    return [e for e in mock_exist.state.journal() if e["path"] == path]


# --------------------------------------------------------------------------- 429


def test_429_retry_after_is_slept_through_then_the_request_succeeds(
    mock_exist, make_client, mock_time
):
    mock_exist.state.set_rate_limit(3)
    client = make_client(max_wait=3600)
    for _ in range(4):
        assert client.profile().username == "mock"
    statuses = [e["status"] for e in journal(mock_exist, "/api/2/accounts/profile/")]
    assert statuses == [200, 200, 200, 429, 200]
    assert mock_time.sleeps == [3600.0]  # frozen clock: the first request must age out


def test_429_beyond_max_wait_raises_and_nothing_is_sent_until_retry_after(
    mock_exist, make_client, mock_time, tmp_path
):
    mock_exist.state.set_rate_limit(2)
    budget_file = tmp_path / "budget.json"
    client = make_client(max_wait=0, budget=RequestBudget(budget_file, clock=mock_time))
    client.profile()
    mock_time.mock_clock.advance(600)
    client.profile()
    with pytest.raises(RateLimited) as info:
        client.profile()
    assert info.value.retry_after == 3000  # the first request leaves the window in 3000s
    # a restarted process (new client, same budget file) doesn't knock either
    again = make_client(max_wait=0, budget=RequestBudget(budget_file, clock=mock_time))
    with pytest.raises(BudgetExhausted):
        again.profile()
    assert len(journal(mock_exist, "/api/2/accounts/profile/")) == 3
    mock_time.mock_clock.advance(3000)
    assert again.profile().username == "mock"


# --------------------------------------------------------------------------- writes


def test_partial_failures_come_back_as_a_202_result(mock_exist, make_client):
    client = make_client()
    assert client.acquire([{"template": "steps", "manual": False}]).ok
    result = client.update(
        [
            {"name": "steps", "date": TODAY, "value": 1200},
            {"name": "steps", "date": "2024-04-30", "value": 9.5},
            {"name": "no_such_thing", "date": TODAY, "value": 1},
        ]
    )
    assert result.status == 202 and result.statuses == [202]
    assert [s["value"] for s in result.success] == [1200]
    assert sorted(f.error_code for f in result.failures) == ["not_found", "validation"]
    assert mock_exist.state.value("steps", TODAY) == 1200
    assert mock_exist.state.value("steps", "2024-04-30") is None


def test_36_items_are_split_into_two_requests(mock_exist, make_client):
    client = make_client()
    client.acquire([{"template": "steps", "manual": False}])
    items = [{"name": "steps", "date": f"2024-03-{d:02d}", "value": d * 100} for d in range(1, 32)]
    items += [{"name": "steps", "date": f"2024-04-{d:02d}", "value": d} for d in range(1, 6)]
    assert len(items) == 36
    result = client.update(items)
    assert result.ok and result.requests == 2 and len(result.success) == 36
    writes = journal(mock_exist, "/api/2/attributes/update/")
    assert [(e["status"], e["items"]) for e in writes] == [(200, 35), (200, 1)]
    assert mock_exist.state.value("steps", "2024-03-31") == 3100
    assert mock_exist.state.value("steps", "2024-04-05") == 5


def test_a_5xx_on_update_is_retried(mock_exist, make_client, mock_time):
    client = make_client()
    client.acquire([{"template": "steps", "manual": False}])
    mock_exist.state.add_fault("/api/2/attributes/update/", status=503, count=2)
    assert client.update([{"name": "steps", "date": TODAY, "value": 10}]).ok
    assert [e["status"] for e in journal(mock_exist, "/api/2/attributes/update/")] == [
        503,
        503,
        200,
    ]
    assert len(mock_time.sleeps) == 2
    assert mock_exist.state.value("steps", TODAY) == 10


def test_an_increment_applied_then_failed_is_not_sent_twice(mock_exist, make_client):
    client = make_client()
    client.acquire([{"template": "coffees", "manual": False}])
    mock_exist.state.add_fault("/api/2/attributes/increment/", status=500, mode="apply_then_fail")
    with pytest.raises(OutcomeUnknown) as info:
        client.increment([{"name": "coffees", "date": TODAY, "value": 1}])
    assert info.value.items == [{"name": "coffees", "date": TODAY, "value": 1}]
    assert len(journal(mock_exist, "/api/2/attributes/increment/")) == 1
    assert len(mock_exist.state.ledger(attribute="coffees")) == 1
    assert mock_exist.state.value("coffees", TODAY) == 1  # applied once, not twice


# --------------------------------------------------------------------------- tokens


def _write_token_file(path: Path, issued: dict, now: float) -> TokenFile:
    file = TokenFile(path)
    file.save(TokenSet.from_response(issued, now, "mock_client", "mock_secret"))
    return file


def test_expired_token_is_refreshed_once_and_the_rotation_persisted(
    mock_exist, make_client, mock_time, tmp_path
):
    issued = mock_exist.state.issue_token(client_id="mock_client", expires_in=60)
    file = _write_token_file(tmp_path / "token.json", issued, mock_time())
    creds = OAuthCredentials(file, clock=mock_time, refresh_margin=0)  # only the 401 path
    client = make_client(creds)
    assert client.profile().username == "mock"
    mock_time.mock_clock.advance(120)  # the access token expires

    assert client.profile().username == "mock"

    statuses = [e["status"] for e in journal(mock_exist, "/api/2/accounts/profile/")]
    assert statuses == [200, 401, 200]
    assert len(journal(mock_exist, "/oauth2/access_token")) == 1
    saved = json.loads(file.path.read_text())
    assert saved["access_token"] != issued["access_token"]
    assert saved["refresh_token"] != issued["refresh_token"]
    assert oct(os.stat(file.path).st_mode & 0o777) == "0o600"
    # both old tokens are dead on the server, the saved pair is the live one
    old = requests.get(
        mock_exist.url + "/api/2/accounts/profile/",
        headers={"Authorization": f"Bearer {issued['access_token']}"},
        timeout=5,
    )
    assert old.status_code == 401
    reuse = requests.post(
        mock_exist.url + "/oauth2/access_token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": issued["refresh_token"],
            "client_id": "mock_client",
            "client_secret": "mock_secret",
        },
        timeout=5,
    )
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    # a restarted process uses the saved pair without refreshing again
    fresh = make_client(OAuthCredentials(TokenFile(file.path), clock=mock_time, refresh_margin=0))
    assert fresh.profile().username == "mock"
    # the client's one refresh, then the test's reuse attempt of the old refresh token
    assert [e["status"] for e in journal(mock_exist, "/oauth2/access_token")] == [200, 400]


def test_token_is_refreshed_proactively_before_it_expires(
    mock_exist, make_client, mock_time, tmp_path
):
    issued = mock_exist.state.issue_token(client_id="mock_client", expires_in=3000)
    file = _write_token_file(tmp_path / "token.json", issued, mock_time())
    client = make_client(OAuthCredentials(file, clock=mock_time, refresh_margin=3600))
    assert client.profile().username == "mock"
    assert [e["status"] for e in journal(mock_exist, "/api/2/accounts/profile/")] == [200]
    assert len(journal(mock_exist, "/oauth2/access_token")) == 1
    assert file.load().access_token != issued["access_token"]


# --------------------------------------------------------------------------- ownership


def test_attribute_taken_by_another_service_is_reacquired_and_the_write_retried(
    mock_exist, make_client, tmp_path
):
    state = mock_exist.state
    manager = AttributeManager(make_client(), [{"template": "coffees"}], tmp_path / "attrs.json")
    assert manager.bootstrap().acquired == ["coffees"]
    ours = state.attribute("coffees")["service"]["name"]
    assert manager.increment([{"name": "coffees", "date": TODAY, "value": 1}]).ok

    state.add_client("other_app", "other_secret", redirect_uris=[], label="Other app")
    other = state.issue_token(client_id="other_app")
    stolen = make_client(other["access_token"]).acquire([{"name": "coffees"}])
    assert stolen.ok and state.attribute("coffees")["service"]["name"] == "other_app"

    result = manager.increment([{"name": "coffees", "date": TODAY, "value": 2.0}])

    assert result.ok and result.success[0]["current"] == 3
    assert state.attribute("coffees")["service"]["name"] == ours
    assert state.value("coffees", TODAY) == 3
    assert [e["value"] for e in state.ledger(attribute="coffees")] == [1, 2]
    increments = journal(mock_exist, "/api/2/attributes/increment/")
    assert [e["status"] for e in increments] == [200, 202, 200]
    # the first acquire was the bootstrap's; one more for the re-acquisition
    assert len([e for e in journal(mock_exist, "/api/2/attributes/acquire/")]) == 3


def test_bootstrap_creates_a_custom_attribute_and_learns_types_from_the_mock(
    mock_exist, make_client, tmp_path
):
    specs = [
        {"template": "steps"},
        {"name": "fridge_opens", "label": "Fridge opens", "group": "food", "value_type": 0},
        {"name": "focus", "label": "Focus", "group": "productivity", "value_type": 5},
    ]
    state_file = tmp_path / "attrs.json"
    manager = AttributeManager(make_client(), specs, state_file)
    report = manager.bootstrap()
    assert report.acquired == ["steps"] and sorted(report.created) == ["focus", "fridge_opens"]
    attr = mock_exist.state.attribute("fridge_opens")
    assert (attr["label"], attr["group"]["name"], attr["value_type"], attr["manual"]) == (
        "Fridge opens",
        "food",
        0,
        False,
    )
    assert manager.value_type("focus") == 5
    assert manager.update([{"name": "fridge_opens", "date": TODAY, "value": 4.0}]).ok
    assert mock_exist.state.value("fridge_opens", TODAY) == 4
    # remembered: a restart sends nothing to acquire or create
    before = len(mock_exist.state.journal())
    assert AttributeManager(make_client(), specs, state_file).bootstrap().requests == 0
    assert len(mock_exist.state.journal()) == before


def test_timezone_and_today_come_from_the_profile(mock_exist, make_client):
    mock_exist.state.set_timezone("mock", "Pacific/Kiritimati")  # UTC+14
    manager = AttributeManager(make_client())
    assert manager.timezone() == "Pacific/Kiritimati"
    assert manager.today() == "2024-05-02"


# --------------------------------------------------------------------------- authorize


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.buttons: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a.get("action", "")
        elif tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "button" and "name" in a:
            self.buttons.append((a["name"], a.get("value", "")))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_authorize_command(mock_exist, tmp_path, choice: str):
    """Run ``exist-bridge authorize`` in a thread and act as the user's browser."""
    port = _free_port()
    redirect = f"http://127.0.0.1:{port}/"
    mock_exist.state.add_client(
        "bridge_app", "bridge_secret", redirect_uris=[redirect], label="Bridge app"
    )
    token_path = tmp_path / "state" / "token.json"
    out, err, code = io.StringIO(), io.StringIO(), []
    argv = [
        "authorize",
        "--client-id",
        "bridge_app",
        "--client-secret",
        "bridge_secret",
        "--scopes",
        "food_write,activity_write",
        "--redirect-uri",
        redirect,
        "--exist-base-url",
        mock_exist.url,
        "--token-file",
        str(token_path),
        "--timeout",
        "20",
    ]
    command = threading.Thread(target=lambda: code.append(cli.run(argv, out, err)), daemon=True)
    command.start()

    deadline = time.monotonic() + 10
    while not (found := re.search(r"(http://\S+/oauth2/authorize\?\S+)", out.getvalue())):
        assert time.monotonic() < deadline, f"no URL printed: {out.getvalue()!r} {err.getvalue()!r}"
        time.sleep(0.02)
    url = found.group(1)
    query = parse_qs(urlsplit(url).query)
    assert query["client_id"] == ["bridge_app"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == [redirect] and query["scope"] == ["food_write activity_write"]
    assert "scope=food_write+activity_write" in url

    browser = requests.Session()
    page = browser.get(url, timeout=5)
    assert page.status_code == 200
    form = _FormParser()
    form.feed(page.text)
    assert ("action", "allow") in form.buttons and ("action", "deny") in form.buttons
    answer = browser.post(
        urljoin(url, form.action or ""),
        data={**form.fields, "action": choice},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302
    landing = browser.get(answer.headers["Location"], timeout=5)  # to the local listener
    command.join(timeout=20)
    assert not command.is_alive()
    return code[0], out.getvalue(), err.getvalue(), token_path, landing


def test_authorize_command_end_to_end(mock_exist, tmp_path, mock_time):
    code, out, err, token_path, landing = _run_authorize_command(mock_exist, tmp_path, "allow")
    assert code == 0, err
    assert landing.status_code == 200 and "authorised" in landing.text
    assert oct(os.stat(token_path).st_mode & 0o777) == "0o600"
    saved = json.loads(token_path.read_text())
    assert saved["client_id"] == "bridge_app" and saved["client_secret"] == "bridge_secret"
    assert set(saved["scope"].split()) == {"food_write", "activity_write"}
    assert saved["access_token"] not in out + err
    # the token works, and the bridge's client can refresh it from the file alone
    client = ExistClient(
        OAuthCredentials(token_path, clock=mock_time, refresh_margin=0), base_url=mock_exist.url
    )
    assert client.acquire([{"template": "coffees", "manual": False}]).ok
    assert mock_exist.state.attribute("coffees")["service"]["name"] == "bridge_app"


def test_authorize_command_reports_a_denial(mock_exist, tmp_path):
    code, out, err, token_path, landing = _run_authorize_command(mock_exist, tmp_path, "deny")
    assert code == 1
    assert err == "exist-bridge: error: authorisation failed: access_denied\n"
    assert not token_path.exists()


# --------------------------------------------------------------------------- the example


def test_client_example_runs_against_the_mock(mock_exist, tmp_path):
    env = {
        **os.environ,
        "EXIST_TOKEN": mock_exist.token,
        "EXIST_BASE_URL": mock_exist.url,
        "EXIST_BUDGET_FILE": str(tmp_path / "budget.json"),
        "EXIST_STATE_FILE": str(tmp_path / "attrs.json"),
    }
    run = subprocess.run(
        [sys.executable, str(REPO / "examples" / "client_example.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    today = mock_exist.state.clock.now().date().isoformat()
    assert f"coffees on {today}: now 1" in run.stdout
    assert mock_exist.state.value("steps", today) == 4321
    assert mock_exist.token not in run.stdout + run.stderr
