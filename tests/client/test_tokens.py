"""OAuth2 credentials: token file (0600, atomic), refresh on 401 exactly once with rotation
persisted before use, proactive refresh, and secrets never shown."""

from __future__ import annotations

import json
import logging
import os
from urllib.parse import parse_qs

import pytest
import responses

from mqtt_bridge.exist.errors import AuthError, CredentialsError, ValidationError
from mqtt_bridge.exist.tokens import (
    OAuthCredentials,
    StaticToken,
    TokenFile,
    TokenSet,
    load_credentials,
)

from ..support.exist_client import API, BASE

PROFILE = API + "/accounts/profile/"
TOKEN_URL = BASE + "/oauth2/access_token"
OLD_ACCESS = "a" * 40
OLD_REFRESH = "b" * 40
NEW_ACCESS = "c" * 40
NEW_REFRESH = "d" * 40
SECRET = "s3cr3t-client-secret"


@pytest.fixture
def token_file(tmp_path, clock) -> TokenFile:
    file = TokenFile(tmp_path / "token.json")
    file.save(
        TokenSet(
            access_token=OLD_ACCESS,
            refresh_token=OLD_REFRESH,
            expires_at=clock.now + 31535999,
            scope="activity_write media_write",
            client_id="my_client",
            client_secret=SECRET,
        )
    )
    return file


@pytest.fixture
def creds(token_file, clock) -> OAuthCredentials:
    return OAuthCredentials(token_file, clock=clock)


def token_answer(access: str = NEW_ACCESS, refresh: str = NEW_REFRESH) -> dict:
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 31535999,
        "refresh_token": refresh,
        "scope": "activity_write media_write",
    }


def bearer(call) -> str:
    return call.request.headers["Authorization"]


# --------------------------------------------------------------------------- the file


def test_token_file_is_created_with_mode_0600_even_with_a_lax_umask(tmp_path):
    old = os.umask(0)
    try:
        file = TokenFile(tmp_path / "sub" / "token.json")
        file.save(TokenSet(access_token=OLD_ACCESS))
    finally:
        os.umask(old)
    assert oct(os.stat(file.path).st_mode & 0o777) == "0o600"
    assert file.load().access_token == OLD_ACCESS


def test_saving_replaces_atomically_and_tightens_mode(tmp_path):
    path = tmp_path / "token.json"
    path.write_text(json.dumps({"access_token": OLD_ACCESS}))
    os.chmod(path, 0o644)
    inode = os.stat(path).st_ino
    TokenFile(path).save(TokenSet(access_token=NEW_ACCESS, refresh_token=NEW_REFRESH))
    assert os.stat(path).st_ino != inode  # a new file renamed over the old one
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert json.loads(path.read_text())["refresh_token"] == NEW_REFRESH
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token.json", "token.json.lock"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{oops", "not valid JSON"),
        ('{"refresh_token": "x"}', "no access"),
    ],
)
def test_unusable_token_files_are_credentials_errors(tmp_path, content, message):
    path = tmp_path / "token.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CredentialsError, match=message):
        TokenFile(path).load()


def test_load_credentials_chooses_static_or_oauth(tmp_path):
    assert isinstance(load_credentials(token="abc"), StaticToken)
    assert isinstance(load_credentials(token_file=tmp_path / "t.json"), OAuthCredentials)
    with pytest.raises(CredentialsError):
        load_credentials(token="abc", token_file=tmp_path / "t.json")


# --------------------------------------------------------------------------- refresh on 401


def test_401_refreshes_exactly_once_and_persists_rotation_before_use(
    rsps, make_client, creds, token_file
):
    seen_in_file_when_used = []

    def profile_ok(request):
        seen_in_file_when_used.append(json.loads(token_file.path.read_text())["access_token"])
        return 200, {}, json.dumps({"username": "u", "timezone": "UTC"})

    rsps.add(responses.GET, PROFILE, status=401, json={"detail": "Token has expired"})
    rsps.add_callback(responses.GET, PROFILE, callback=profile_ok)
    rsps.add(responses.POST, TOKEN_URL, json=token_answer())
    client = make_client(creds)

    assert client.profile().username == "u"

    token_calls = [c for c in rsps.calls if c.request.url == TOKEN_URL]
    assert len(token_calls) == 1
    form = parse_qs(token_calls[0].request.body)
    assert form == {
        "grant_type": ["refresh_token"],
        "refresh_token": [OLD_REFRESH],
        "client_id": ["my_client"],
        "client_secret": [SECRET],
    }
    api_calls = [c for c in rsps.calls if c.request.url.startswith(API)]
    assert [bearer(c) for c in api_calls] == [f"Bearer {OLD_ACCESS}", f"Bearer {NEW_ACCESS}"]
    assert seen_in_file_when_used == [NEW_ACCESS]  # on disk before it was used
    saved = token_file.load()
    assert (saved.access_token, saved.refresh_token) == (NEW_ACCESS, NEW_REFRESH)
    assert saved.client_id == "my_client" and saved.client_secret == SECRET
    assert oct(os.stat(token_file.path).st_mode & 0o777) == "0o600"


def test_a_second_401_after_the_refresh_is_an_auth_error(rsps, make_client, creds):
    rsps.add(responses.GET, PROFILE, status=401, json={"detail": "Invalid token"})
    rsps.add(responses.POST, TOKEN_URL, json=token_answer())
    with pytest.raises(AuthError, match="even after refreshing"):
        make_client(creds).profile()
    assert len([c for c in rsps.calls if c.request.url == TOKEN_URL]) == 1
    assert len([c for c in rsps.calls if c.request.url == PROFILE]) == 2


def test_each_logical_request_may_refresh_once(rsps, make_client, creds):
    # the new token is refused too: every call refreshes at most once, never loops
    rsps.add(responses.GET, PROFILE, status=401)
    rsps.add(responses.POST, TOKEN_URL, json=token_answer())
    rsps.add(responses.POST, TOKEN_URL, json=token_answer("e" * 40, "f" * 40))
    client = make_client(creds)
    for _ in range(2):
        with pytest.raises(AuthError):
            client.profile()
    assert len([c for c in rsps.calls if c.request.url == TOKEN_URL]) == 2


def test_a_refused_refresh_is_an_auth_error_and_keeps_the_file(
    rsps, make_client, creds, token_file
):
    rsps.add(responses.GET, PROFILE, status=401)
    rsps.add(responses.POST, TOKEN_URL, status=400, json={"error": "invalid_grant"})
    with pytest.raises(AuthError, match="invalid_grant"):
        make_client(creds).profile()
    assert token_file.load().refresh_token == OLD_REFRESH


def test_a_newer_token_in_the_file_is_adopted_instead_of_refreshing(
    rsps, make_client, creds, token_file
):
    client = make_client(creds)
    rsps.add(responses.GET, PROFILE, json={"username": "u", "timezone": "UTC"})
    client.profile()  # loads the old token
    # meanwhile `exist-bridge authorize` (or another process) wrote new tokens
    token_file.save(TokenSet(access_token=NEW_ACCESS, refresh_token=NEW_REFRESH))
    rsps.replace(responses.GET, PROFILE, status=401)
    rsps.add(responses.GET, PROFILE, json={"username": "u", "timezone": "UTC"})
    client.profile()
    assert [c.request.url for c in rsps.calls].count(TOKEN_URL) == 0
    assert bearer(rsps.calls[-1]) == f"Bearer {NEW_ACCESS}"


def test_a_personal_token_is_never_refreshed(rsps, make_client):
    rsps.add(responses.GET, PROFILE, status=401, json={"detail": "Invalid token"})
    with pytest.raises(AuthError):
        make_client(StaticToken("personal")).profile()
    assert [c.request.url for c in rsps.calls] == [PROFILE]


def test_proactive_refresh_near_expiry(rsps, make_client, token_file, clock):
    creds = OAuthCredentials(token_file, clock=clock, refresh_margin=7 * 86400)
    rsps.add(responses.POST, TOKEN_URL, json=token_answer())
    rsps.add(responses.GET, PROFILE, json={"username": "u", "timezone": "UTC"})
    client = make_client(creds)
    client.profile()
    assert [c.request.url for c in rsps.calls] == [PROFILE]  # a year left: no refresh
    clock.advance(31535999 - 86400)  # one day left
    client.profile()
    assert [c.request.url for c in rsps.calls] == [PROFILE, TOKEN_URL, PROFILE]
    assert bearer(rsps.calls[-1]) == f"Bearer {NEW_ACCESS}"
    client.profile()  # the new token has a year again
    assert len(rsps.calls) == 4


def test_a_failed_proactive_refresh_falls_back_to_the_current_token(
    rsps, make_client, token_file, clock
):
    creds = OAuthCredentials(token_file, clock=clock, refresh_margin=10**9)
    rsps.add(responses.POST, TOKEN_URL, status=400, json={"error": "invalid_grant"})
    rsps.add(responses.GET, PROFILE, json={"username": "u", "timezone": "UTC"})
    client = make_client(creds)
    client.profile()
    client.profile()  # not tried again right away
    urls = [c.request.url for c in rsps.calls]
    assert urls == [TOKEN_URL, PROFILE, PROFILE]
    assert bearer(rsps.calls[-1]) == f"Bearer {OLD_ACCESS}"


# --------------------------------------------------------------------------- secrecy


def test_tokens_never_appear_in_reprs(creds, token_file, make_client):
    tokens = token_file.load()
    client = make_client(creds)
    creds.access_token()
    texts = [repr(tokens), str(tokens), repr(creds), repr(client), repr(StaticToken(OLD_ACCESS))]
    for text in texts:
        for secret in (OLD_ACCESS, OLD_REFRESH, SECRET):
            assert secret not in text, text
    assert "client_id='my_client'" in repr(tokens)  # the non-secret fields are still shown


def test_tokens_never_appear_in_logs_or_exceptions(rsps, make_client, creds, caplog):
    # a server that echoes the credentials back in its error details
    rsps.add(responses.GET, PROFILE, status=401, json={"detail": f"Invalid token {OLD_ACCESS}"})
    rsps.add(
        responses.POST,
        TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_description": "bad"},
    )
    rsps.add(
        responses.POST,
        API + "/attributes/update/",
        status=400,
        json={"detail": f"token {OLD_ACCESS} refresh {OLD_REFRESH}"},
    )
    client = make_client(creds)
    caught = []
    with caplog.at_level(logging.DEBUG):
        for call in (
            client.profile,
            lambda: client.update([{"name": "x", "date": "2024-01-01", "value": 1}]),
        ):
            with pytest.raises(Exception) as info:
                call()
            caught.append(info.value)
    assert isinstance(caught[0], AuthError) and isinstance(caught[1], ValidationError)
    everything = caplog.text + " ".join(f"{e} {e!r} {e.args}" for e in caught)
    for secret in (OLD_ACCESS, OLD_REFRESH, SECRET):
        assert secret not in everything
    assert "<redacted>" in str(caught[1])


def test_a_401_that_echoes_the_token_is_redacted(rsps, make_client):
    token = "9" * 40
    rsps.add(responses.GET, PROFILE, status=401, json={"detail": f"bad token {token}"})
    with pytest.raises(AuthError) as info:
        make_client(StaticToken(token)).profile()
    assert token not in str(info.value) and "<redacted>" in str(info.value)


def test_a_refresh_that_could_not_connect_is_tried_again_on_the_retry(
    rsps, make_client, creds, token_file
):
    import requests

    rsps.add(responses.GET, PROFILE, status=401)
    rsps.add(responses.GET, PROFILE, status=401)
    rsps.add(responses.GET, PROFILE, json={"username": "u", "timezone": "UTC"})
    rsps.add(responses.POST, TOKEN_URL, body=requests.exceptions.ConnectTimeout("down"))
    rsps.add(responses.POST, TOKEN_URL, json=token_answer())
    assert make_client(creds).profile().username == "u"
    assert [c.request.url for c in rsps.calls] == [PROFILE, TOKEN_URL, PROFILE, TOKEN_URL, PROFILE]
    assert token_file.load().access_token == NEW_ACCESS
