"""``exist-bridge authorize`` pieces: the URL, the one-shot listener, the code exchange, the CLI."""

from __future__ import annotations

import io
import json
import os
import queue
import socket
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from mqtt_bridge import cli
from mqtt_bridge.exist.errors import AuthorizationFailed
from mqtt_bridge.exist.oauth_flow import (
    RedirectListener,
    authorize_url,
    parse_scopes,
    run_authorize,
)
from mqtt_bridge.exist.tokens import TokenFile

from ..support.exist_client import BASE
from ..support.net import free_port


def test_authorize_url_has_the_documented_shape():
    url = authorize_url(
        "https://exist.io/", "abc", "http://localhost:8000/", ["media_write", "activity_write"]
    )
    assert url == (
        "https://exist.io/oauth2/authorize?client_id=abc&response_type=code"
        "&redirect_uri=http%3A%2F%2Flocalhost%3A8000%2F&scope=media_write+activity_write"
    )
    with_state = authorize_url(
        "https://exist.io", "abc", "http://localhost:8000/", ["x_read"], "s1"
    )
    assert with_state.endswith("&scope=x_read&state=s1")


def test_parse_scopes():
    assert parse_scopes("media_write, activity_write,media_write") == [
        "media_write",
        "activity_write",
    ]
    assert parse_scopes("mood_read+mood_write") == ["mood_read", "mood_write"]
    for bad in ("", " , ", "media", "media_write,DROP TABLE"):
        with pytest.raises(ValueError):
            parse_scopes(bad)


def _serve(listener: RedirectListener) -> queue.Queue:
    results: queue.Queue = queue.Queue()

    def run() -> None:
        try:
            results.put(listener.wait(timeout=10))
        except Exception as err:  # noqa: BLE001
            results.put(err)

    threading.Thread(target=run, daemon=True).start()
    return results


def test_listener_ignores_other_paths_and_takes_the_code():
    port = free_port()
    with RedirectListener(f"http://127.0.0.1:{port}/cb", expected_state="st") as listener:
        results = _serve(listener)
        assert requests.get(f"http://127.0.0.1:{port}/favicon.ico", timeout=5).status_code == 404
        page = requests.get(f"http://127.0.0.1:{port}/cb?code=c0de&state=st", timeout=5)
        assert page.status_code == 200 and "authorised" in page.text
        result = results.get(timeout=10)
    assert result.code == "c0de" and result.error is None
    assert "c0de" not in repr(result)


@pytest.mark.parametrize(
    ("query", "error"),
    [("error=access_denied&state=st", "access_denied"), ("code=x&state=forged", "state_mismatch")],
)
def test_listener_reports_errors(query, error):
    port = free_port()
    with RedirectListener(f"http://127.0.0.1:{port}/", expected_state="st") as listener:
        results = _serve(listener)
        requests.get(f"http://127.0.0.1:{port}/?{query}", timeout=5)
        result = results.get(timeout=10)
    assert result.error == error and result.code is None


def test_listener_refuses_https_redirects():
    with pytest.raises(ValueError, match="http://"):
        RedirectListener("https://example.com/callback")


def test_listener_times_out():
    with (
        RedirectListener(f"http://127.0.0.1:{free_port()}/") as listener,
        pytest.raises(AuthorizationFailed, match="within"),
    ):
        listener.wait(timeout=0.2)


def _browser(port_url: queue.Queue, query: str) -> None:
    """Follow the printed URL's redirect_uri the way Exist would send the browser back."""
    url = port_url.get(timeout=10)
    params = parse_qs(urlsplit(url).query)
    target = params["redirect_uri"][0]
    state = params["state"][0]
    requests.get(f"{target}?{query}&state={state}", timeout=5)


def test_run_authorize_exchanges_the_code_and_writes_the_token_file(tmp_path):
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/"
    token_path = tmp_path / "state" / "token.json"
    ready: queue.Queue = queue.Queue()
    threading.Thread(target=_browser, args=(ready, "code=the-code"), daemon=True).start()
    printed: list[str] = []
    with responses.RequestsMock() as rsps:
        rsps.add_passthru(f"http://127.0.0.1:{port}")
        rsps.add(
            responses.POST,
            BASE + "/oauth2/access_token",
            json={
                "access_token": "A" * 40,
                "refresh_token": "R" * 40,
                "token_type": "Bearer",
                "expires_in": 31535999,
                "scope": "media_write",
            },
        )
        tokens = run_authorize(
            client_id="cid",
            client_secret="csecret",
            scopes=["media_write"],
            token_file=token_path,
            base_url=BASE,
            redirect_uri=redirect,
            timeout=10,
            out=printed.append,
            on_ready=ready.put,
        )
        form = parse_qs(rsps.calls[0].request.body)
    assert form == {
        "grant_type": ["authorization_code"],
        "code": ["the-code"],
        "client_id": ["cid"],
        "client_secret": ["csecret"],
        "redirect_uri": [redirect],
    }
    assert tokens.access_token == "A" * 40
    saved = json.loads(token_path.read_text())
    assert saved["access_token"] == "A" * 40 and saved["refresh_token"] == "R" * 40
    assert saved["client_id"] == "cid" and saved["client_secret"] == "csecret"
    assert oct(os.stat(token_path).st_mode & 0o777) == "0o600"
    assert any(f"{BASE}/oauth2/authorize?client_id=cid" in line for line in printed)
    assert not any("A" * 40 in line or "csecret" in line for line in printed)


def test_run_authorize_reports_a_denial(tmp_path):
    port = free_port()
    ready: queue.Queue = queue.Queue()
    threading.Thread(target=_browser, args=(ready, "error=access_denied"), daemon=True).start()
    with pytest.raises(AuthorizationFailed, match="access_denied"):
        run_authorize(
            client_id="cid",
            client_secret="csecret",
            scopes=["media_write"],
            token_file=TokenFile(tmp_path / "token.json"),
            base_url=BASE,
            redirect_uri=f"http://127.0.0.1:{port}/",
            timeout=10,
            out=lambda line: None,
            on_ready=ready.put,
        )
    assert not (tmp_path / "token.json").exists()


# --------------------------------------------------------------------------- the CLI


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_help_lists_the_subcommands():
    code, out, _ = run_cli("--help")
    assert code == 0 and "authorize" in out and "exist-bridge" in out


def test_authorize_help_documents_every_option():
    code, out, _ = run_cli("authorize", "--help")
    assert code == 0
    for option in (
        "--client-id",
        "--client-secret",
        "--scopes",
        "--redirect-uri",
        "--exist-base-url",
        "--token-file",
    ):
        assert option in out


def test_no_command_is_a_usage_error():
    code, _, err = run_cli()
    assert code == 2 and "COMMAND" in err


def test_errors_are_one_line_without_traceback(monkeypatch):
    monkeypatch.delenv("EXIST_CLIENT_ID", raising=False)
    code, _, err = run_cli("authorize", "--scopes", "media_write", "--client-secret", "x")
    assert code == 1
    assert err == "exist-bridge: error: --client-id is required (or set EXIST_CLIENT_ID)\n"


def test_a_busy_port_is_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run_cli(
            "authorize",
            "--client-id",
            "c",
            "--client-secret",
            "s",
            "--scopes",
            "media_write",
            "--redirect-uri",
            f"http://127.0.0.1:{port}/",
        )
    assert code == 1
    assert err.startswith("exist-bridge: error: ") and err.count("\n") == 1
    assert f"can't listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err


def test_main_is_the_console_script():
    from importlib.metadata import entry_points

    [script] = [e for e in entry_points(group="console_scripts") if e.name == "exist-bridge"]
    assert script.value == "mqtt_bridge.cli:main"
    assert cli.main(["--version"]) == 0
