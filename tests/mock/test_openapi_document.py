"""``mock_exist/http/openapi.json``: valid OpenAPI, served by the mock, and in step with its routes.

The route test walks the Flask ``url_map`` both ways, so a view added, removed or renamed under
``/api/2/`` or ``/oauth2/`` without the document following (or the reverse) fails here.
"""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest
import schemathesis

from mock_exist import MockConfig, create_app
from mock_exist.rules.catalog import GROUPS, TEMPLATES
from mock_exist.rules.oauth import ALL_SCOPES
from mock_exist.rules.pagination import MAX_PAGE_SIZE

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
EMULATED_PREFIXES = ("/api/2/", "/oauth2/", "/_mock/")  # /_mock/: the control API


@pytest.fixture(scope="module")
def document() -> dict:
    text = resources.files("mock_exist.http").joinpath("openapi.json").read_text(encoding="utf-8")
    return json.loads(text)


@pytest.fixture(scope="module")
def app():
    return create_app({"token": "a" * 40})


def _operations(document: dict) -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def _routes(app) -> set[tuple[str, str]]:
    """(path, method) of every emulated route; Flask's automatic HEAD and OPTIONS left out."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(EMULATED_PREFIXES):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method))
    return routes


def _refs(node: object):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(document: dict, ref: str) -> object:
    assert ref.startswith("#/"), f"only local references are used: {ref}"
    node: object = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolvable reference {ref}"
        node = node[part]
    return node


def test_document_is_valid_openapi(document):
    assert document["openapi"].startswith("3.")
    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(document)))
    schema.validate()  # against the OpenAPI meta-schema of the document's version
    for ref in set(_refs(document)):
        _resolve(document, ref)


def test_every_operation_has_an_id_and_documented_responses(document):
    ids = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            assert op.get("operationId"), f"{method.upper()} {path} has no operationId"
            ids.append(op["operationId"])
            assert op["responses"], f"{method.upper()} {path} documents no response"
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_description_says_it_documents_the_emulation(document):
    description = document["info"]["description"]
    assert "mock-exist" in description and "emulation" in description
    assert "assume" in description


def test_served_at_mock_openapi_json(app, document):
    response = app.test_client().get("/_mock/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == document


def test_every_emulated_route_is_documented_and_nothing_else(app, document):
    routes = _routes(app)
    operations = _operations(document)
    assert routes - operations == set(), "routes missing from openapi.json"
    assert operations - routes == set(), "openapi.json describes routes the app doesn't have"
    assert all(path.startswith(EMULATED_PREFIXES) for path, _ in operations)


def test_control_api_request_bodies_are_the_fields_the_views_accept(document):
    """Each documented /_mock/ body lists exactly the fields its view accepts (and refuses the
    rest: ``additionalProperties: false``); the required ones are refused when missing."""
    from mock_exist.http.control_views import FIELDS

    schemas = document["components"]["schemas"]
    for (method, path), fields in FIELDS.items():
        op = document["paths"][path][method.lower()]
        schema = _resolve(
            document, op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        )
        assert set(schema["properties"]) == set(fields), f"{method} {path}"
        assert schema["additionalProperties"] is False, f"{method} {path}"
        for required in schema.get("required", []):
            body = {k: v for k, v in _valid_example(path).items() if k != required}
            answer = (
                create_app({"token": "a" * 40})
                .test_client()
                .open(path.replace("{username}", "mock"), method=method, json=body)
            )
            assert answer.status_code == 400 and required in answer.get_json()["detail"], (
                f"{method} {path} without {required}: {answer.status_code}"
            )
    state = schemas["MockStateDocument"]
    assert set(state["required"]) == {"format", "version", "users"}
    from mock_exist import MockExist

    assert set(MockExist().dump()) == set(state["properties"])


def _valid_example(path: str) -> dict:
    return {
        "/_mock/users": {"username": "bob"},
        "/_mock/users/{username}/timezone": {"timezone": "UTC"},
        "/_mock/clients": {"client_id": "c2", "client_secret": "s"},
        "/_mock/faults": {"path": "/x"},
        "/_mock/rate-limit": {"limit": 5},
    }.get(path, {})


def test_control_api_is_tagged_and_guarded(document):
    for path, item in document["paths"].items():
        if not path.startswith("/_mock/"):
            continue
        for method, op in item.items():
            assert op["tags"] == ["Mock control"], f"{method} {path}"
            if path != "/_mock/health":
                assert {"MockAdminToken": []} in op["security"], f"{method} {path}"


def test_every_api_path_ends_in_a_slash(document):
    # the mock answers 404 for an /api/2/ path without its trailing slash
    assert all(p.endswith("/") for p in document["paths"] if p.startswith("/api/2/"))


def test_writes_need_bearer_and_reads_accept_both_schemes(app, document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["Bearer"]["scheme"].lower() == "bearer"
    assert schemes["Token"]["scheme"] == "Token"
    assert document["security"] == [{"Bearer": []}, {"Token": []}]
    for path, item in document["paths"].items():
        if not path.startswith("/api/2/attributes/") or "post" not in item:
            continue
        assert item["post"]["security"] == [{"Bearer": []}]
        assert "403" in item["post"]["responses"]


def test_enumerations_match_the_mock(document):
    schemas = document["components"]["schemas"]
    assert set(schemas["GroupName"]["enum"]) == set(GROUPS)
    assert set(schemas["TemplateName"]["enum"]) == set(TEMPLATES)
    flows = document["components"]["securitySchemes"]["OAuth2"]["flows"]
    assert set(flows["authorizationCode"]["scopes"]) == set(ALL_SCOPES)
    limit = document["components"]["parameters"]["limit"]["schema"]
    assert limit["maximum"] == MAX_PAGE_SIZE


def test_write_bodies_are_arrays_capped_at_max_items(document):
    writes = [
        item["post"]
        for path, item in document["paths"].items()
        if path.startswith("/api/2/attributes/") and "post" in item
    ]
    assert len(writes) == 5
    for op in writes:
        body = op["requestBody"]["content"]["application/json"]["schema"]
        assert body["type"] == "array"
        assert body["maxItems"] == MockConfig().max_items
        assert {"200", "202", "400", "401", "403", "415", "429"} <= set(op["responses"])


def test_throttling_documents_retry_after(document):
    throttled = document["components"]["responses"]["TooManyRequests"]
    assert throttled["headers"]["Retry-After"]["schema"]["type"] == "integer"
    for path, item in document["paths"].items():
        if not path.startswith("/api/2/") or path == "/api/2/auth/simple-token/":
            continue
        for op in item.values():
            assert op["responses"]["429"] == {"$ref": "#/components/responses/TooManyRequests"}


# ------------------------------------------------------------------ answers match the document
# The fuzz test always authenticates; these requests produce the documented error answers (and
# the OAuth2 flow) on purpose and check each against the operation's documented response.

TOKEN = "b" * 40
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def _conforms(document: dict, method: str, path: str, response) -> None:
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(document)))
    case = schema[path][method].Case()
    case.validate_response(
        response,
        checks=[
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
        ],
    )


def _post_json(client, path: str, body: object, headers=None, **kwargs):
    return client.post(path, json=body, headers=headers or BEARER, **kwargs)


def test_error_answers_match_the_document(document):
    app = create_app({"token": TOKEN, "rate_limit": 10**9})
    mock = app.extensions["mock_exist"]
    mock.seed_attribute("coffees", owner="mock_client", value_type=0, values={"2024-01-01": 1})
    client = app.test_client()
    simple = client.post("/api/2/auth/simple-token/", data={"username": "mock", "password": "mock"})
    read_only = {"Authorization": f"Token {simple.get_json()['token']}"}
    update = "/api/2/attributes/update/"
    cases = [
        ("POST", "/api/2/auth/simple-token/", simple, 200),
        (
            "POST",
            "/api/2/auth/simple-token/",
            client.post("/api/2/auth/simple-token/", data={"username": "mock", "password": "x"}),
            400,
        ),
        (
            "POST",
            "/api/2/auth/simple-token/",
            client.post("/api/2/auth/simple-token/", data="{", content_type="application/json"),
            400,
        ),
        (
            "POST",
            "/api/2/auth/simple-token/",
            client.post("/api/2/auth/simple-token/", data="x", content_type="text/plain"),
            415,
        ),
        ("GET", "/api/2/accounts/profile/", client.get("/api/2/accounts/profile/"), 401),
        (
            "GET",
            "/api/2/accounts/profile/",
            client.get("/api/2/accounts/profile/", headers={"Authorization": "Bearer nope"}),
            401,
        ),
        (
            "GET",
            "/api/2/attributes/",
            client.get("/api/2/attributes/", headers=read_only),
            200,
        ),
        ("GET", "/api/2/attributes/", client.get("/api/2/attributes/?page=9", headers=BEARER), 404),
        (
            "GET",
            "/api/2/attributes/with-values/",
            client.get("/api/2/attributes/with-values/?days=99", headers=BEARER),
            400,
        ),
        (
            "GET",
            "/api/2/attributes/values/",
            client.get("/api/2/attributes/values/", headers=BEARER),
            400,
        ),
        (
            "GET",
            "/api/2/attributes/values/",
            client.get("/api/2/attributes/values/?attribute=nope", headers=BEARER),
            404,
        ),
        (
            "GET",
            "/api/2/attributes/values/",
            client.get("/api/2/attributes/values/?attribute=coffees&limit=1", headers=BEARER),
            200,
        ),
        (
            "GET",
            "/api/2/correlations/combo/",
            client.get("/api/2/correlations/combo/?attribute=a&attribute2=b", headers=BEARER),
            404,
        ),
        ("POST", update, _post_json(client, update, [{}], headers=read_only), 403),
        ("POST", update, client.post(update, data="[]", headers=BEARER), 415),
        ("POST", update, _post_json(client, update, {"name": "coffees"}), 400),
        ("POST", update, _post_json(client, update, [{}] * 36), 400),
        (
            "POST",
            update,
            _post_json(client, update, [{"name": "coffees", "date": "2024-01-02", "value": 2}]),
            200,
        ),
        ("POST", update, _post_json(client, update, [{"name": "coffees", "value": 2.5}]), 202),
        (
            "POST",
            "/api/2/attributes/increment/",
            _post_json(client, "/api/2/attributes/increment/", [{"name": "coffees", "value": 1}]),
            200,
        ),
        (
            "POST",
            "/api/2/attributes/create/",
            _post_json(
                client,
                "/api/2/attributes/create/?success_objects=1",
                [{"label": "Tea", "group": "food", "value_type": 0}, {"template": "nope"}],
            ),
            202,
        ),
        (
            "POST",
            "/api/2/attributes/acquire/",
            _post_json(client, "/api/2/attributes/acquire/", [{"template": "steps"}]),
            200,
        ),
        (
            "POST",
            "/api/2/attributes/release/",
            _post_json(client, "/api/2/attributes/release/", [{"name": "steps"}]),
            200,
        ),
    ]
    for method, path, response, status in cases:
        assert response.status_code == status, (method, path, response.get_data(as_text=True))
        _conforms(document, method, path, response)


def test_throttled_answer_matches_the_document(document):
    app = create_app({"token": TOKEN, "rate_limit": 1})
    client = app.test_client()
    assert client.get("/api/2/attributes/", headers=BEARER).status_code == 200
    for method, path in [("GET", "/api/2/attributes/"), ("POST", "/api/2/attributes/update/")]:
        response = client.open(path, method=method, json=[], headers=BEARER)
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) >= 1
        _conforms(document, method, path, response)


def test_oauth2_answers_match_the_document(document):
    app = create_app({"token": TOKEN})
    client = app.test_client()
    params = {
        "client_id": "mock_client",
        "redirect_uri": "http://localhost:8000/",
        "response_type": "code",
        "scope": "activity_read activity_write",
        "state": "xyz",
    }
    page = client.get("/oauth2/authorize", query_string=params)
    assert page.status_code == 200
    _conforms(document, "GET", "/oauth2/authorize", page)
    bad = client.get("/oauth2/authorize", query_string={**params, "client_id": "nope"})
    assert bad.status_code == 400
    _conforms(document, "GET", "/oauth2/authorize", bad)
    allowed = client.post("/oauth2/authorize", data={**params, "action": "allow"})
    assert allowed.status_code == 302
    _conforms(document, "POST", "/oauth2/authorize", allowed)
    code = dict(
        part.split("=", 1) for part in allowed.headers["Location"].split("?", 1)[1].split("&")
    )["code"]

    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "mock_client",
        "client_secret": "mock_secret",
        "redirect_uri": "http://localhost:8000/",
    }
    token = client.post("/oauth2/access_token", data=form)
    assert token.status_code == 200
    _conforms(document, "POST", "/oauth2/access_token", token)
    again = client.post("/oauth2/access_token", data=form)  # codes are single use
    assert again.status_code == 400
    _conforms(document, "POST", "/oauth2/access_token", again)
    wrong = client.post("/oauth2/access_token", data={**form, "client_secret": "nope"})
    assert wrong.status_code == 401
    _conforms(document, "POST", "/oauth2/access_token", wrong)
    refreshed = client.post(
        "/oauth2/access_token",
        json={
            "grant_type": "refresh_token",
            "refresh_token": token.get_json()["refresh_token"],
            "client_id": "mock_client",
            "client_secret": "mock_secret",
        },
    )
    assert refreshed.status_code == 200
    _conforms(document, "POST", "/oauth2/access_token", refreshed)
