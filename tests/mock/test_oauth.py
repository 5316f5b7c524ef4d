"""The OAuth2 authorise page and token endpoint."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from ..support.exist_api import Api
from ..support.html import FormParser

REDIRECT = "http://localhost:8000/"


def authorize_url(base: str, **overrides: str) -> tuple[str, dict]:
    params = {
        "client_id": "mock_client",
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "media_write activity_read",
        "state": "xyz",
    }
    params.update(overrides)
    return f"{base}/oauth2/authorize", params


def submit(base: str, action: str, **overrides: str) -> requests.Response:
    """Load the authorise page and press one of its buttons, as a browser would."""
    url, params = authorize_url(base, **overrides)
    page = requests.get(url, params=params, timeout=10)
    assert page.status_code == 200, page.text
    form = FormParser()
    form.feed(page.text)
    assert form.method == "post" and ("action", action) in form.buttons
    return requests.post(
        page.url, data={**form.fields, "action": action}, allow_redirects=False, timeout=10
    )


def get_code(base: str, **overrides: str) -> str:
    r = submit(base, "allow", **overrides)
    assert r.status_code == 302
    query = parse_qs(urlsplit(r.headers["Location"]).query)
    return query["code"][0]


def exchange(base: str, **fields: str) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "client_id": "mock_client",
        "client_secret": "mock_secret",
        "redirect_uri": REDIRECT,
        **fields,
    }
    return requests.post(f"{base}/oauth2/access_token", data=data, timeout=10)


def test_authorize_page_names_the_client_and_the_scopes(mock_exist):
    url, params = authorize_url(mock_exist.url)
    page = requests.get(url, params=params, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "Mock client" in page.text
    assert "Write Media group" in page.text and "Read Activity group" in page.text
    assert re.search(r'<form method="post"', page.text)


def test_allow_redirects_with_a_code_and_the_state(mock_exist):
    r = submit(mock_exist.url, "allow")
    location = urlsplit(r.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"] and re.fullmatch(r"[0-9a-f]{40}", query["code"][0])


def test_deny_redirects_with_access_denied(mock_exist):
    r = submit(mock_exist.url, "deny")
    assert r.status_code == 302
    assert parse_qs(urlsplit(r.headers["Location"]).query) == {
        "error": ["access_denied"],
        "state": ["xyz"],
    }


@pytest.mark.parametrize(
    "override", [{"client_id": "nobody"}, {"redirect_uri": "http://evil.example/"}]
)
def test_unknown_client_or_unregistered_redirect_is_a_400_page_without_redirect(
    mock_exist, override
):
    url, params = authorize_url(mock_exist.url, **override)
    for r in (
        requests.get(url, params=params, allow_redirects=False, timeout=10),
        requests.post(url, data={**params, "action": "allow"}, allow_redirects=False, timeout=10),
    ):
        assert r.status_code == 400
        assert "Location" not in r.headers and "<h1>" in r.text


@pytest.mark.parametrize(
    "override,error",
    [
        ({"scope": "everything_write"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_bad_requests_from_a_known_client_redirect_with_an_error(mock_exist, override, error):
    url, params = authorize_url(mock_exist.url, **override)
    r = requests.get(url, params=params, allow_redirects=False, timeout=10)
    assert r.status_code == 302
    assert parse_qs(urlsplit(r.headers["Location"]).query)["error"] == [error]


def test_code_exchange_answers_the_documented_token_shape(mock_exist):
    r = exchange(mock_exist.url, code=get_code(mock_exist.url))
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 31535999
    assert re.fullmatch(r"[0-9a-f]{40}", body["access_token"])
    assert re.fullmatch(r"[0-9a-f]{40}", body["refresh_token"])
    assert set(body["scope"].split()) == {"media_write", "activity_read"}
    api = Api(mock_exist.url, body["access_token"])
    assert api.post("attributes/acquire/", [{"template": "pages_read"}]).status_code == 200
    r = api.post("attributes/acquire/", [{"template": "mood"}])  # no mood_write scope
    assert r.json()["failed"][0]["error_code"] == "not_allowed"


def test_codes_are_single_use(mock_exist):
    code = get_code(mock_exist.url)
    assert exchange(mock_exist.url, code=code).status_code == 200
    again = exchange(mock_exist.url, code=code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_codes_expire(mock_exist):
    code = get_code(mock_exist.url)
    mock_exist.state.clock.advance(601)
    assert exchange(mock_exist.url, code=code).json()["error"] == "invalid_grant"


def test_code_exchange_checks_secret_and_redirect_uri(mock_exist):
    r = exchange(mock_exist.url, code=get_code(mock_exist.url), client_secret="wrong")
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = exchange(mock_exist.url, code=get_code(mock_exist.url), redirect_uri="http://localhost:9/")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = exchange(mock_exist.url, code=get_code(mock_exist.url), grant_type="password")
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


def refresh(base: str, token: str, **fields: str) -> requests.Response:
    data = {
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": "mock_client",
        "client_secret": "mock_secret",
        **fields,
    }
    return requests.post(f"{base}/oauth2/access_token", data=data, timeout=10)


def test_refresh_rotates_both_tokens_and_invalidates_the_old_pair(mock_exist):
    first = exchange(mock_exist.url, code=get_code(mock_exist.url)).json()
    r = refresh(mock_exist.url, first["refresh_token"])
    assert r.status_code == 200
    second = r.json()
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == first["scope"] and second["expires_in"] == 31535999
    assert Api(mock_exist.url, first["access_token"]).get("accounts/profile/").status_code == 401
    assert Api(mock_exist.url, second["access_token"]).get("accounts/profile/").status_code == 200
    again = refresh(mock_exist.url, first["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_an_expired_access_token_can_still_be_refreshed(mock_exist):
    first = exchange(mock_exist.url, code=get_code(mock_exist.url)).json()
    mock_exist.state.clock.advance(366 * 24 * 3600)
    assert Api(mock_exist.url, first["access_token"]).get("accounts/profile/").status_code == 401
    second = refresh(mock_exist.url, first["refresh_token"]).json()
    assert Api(mock_exist.url, second["access_token"]).get("accounts/profile/").status_code == 200


def test_refresh_needs_the_same_client(mock_exist):
    mock_exist.state.add_client("other_app", "other_secret", [REDIRECT])
    first = exchange(mock_exist.url, code=get_code(mock_exist.url)).json()
    r = refresh(
        mock_exist.url, first["refresh_token"], client_id="other_app", client_secret="other_secret"
    )
    assert r.json()["error"] == "invalid_grant"


def test_token_endpoint_accepts_http_basic_client_authentication(mock_exist):
    code = get_code(mock_exist.url)
    r = requests.post(
        f"{mock_exist.url}/oauth2/access_token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=("mock_client", "mock_secret"),
        timeout=10,
    )
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
