"""A conformance suite for the Exist API v2 that runs against any base URL.

    python -m mock_exist.conformance --base-url http://127.0.0.1:5000 --token T
    mock-exist-conformance --base-url https://exist.io --token T --yes

It checks the documented behaviours mock-exist emulates (authentication errors, profile, paging,
templates, the write rules with their 200/202 and per-item error codes, whole-request errors,
increment totals, reading values back, release) and prints each check with PASS or FAIL. Pointed at
exist.io with a throwaway account it shows where the mock and the real service differ.

What it writes: ONE custom attribute it creates for the purpose, labelled "mock-exist conformance
<random>" (group custom, integer), with values on two dates only (the 36-object check repeats one
date with the value it has), and releases it at the end, by the name Exist gave it (the Exist
API cannot delete an attribute: delete it in Exist's web app if you like). It never writes to any
other attribute. It says so before it starts and, off loopback, asks for confirmation (``--yes``).

Needs ``requests`` only (no Flask): it is a client.
"""

from __future__ import annotations

import argparse
import ipaddress
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlsplit

import requests

LOOPBACK_NAMES = ("localhost",)
TIMEOUT = 30


class CheckFailed(AssertionError):
    """A check's expectation was not met; the message says what was seen."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


@dataclass
class Result:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class Suite:
    """The checks, in order, against one base URL and token. ``run()`` returns the results."""

    base_url: str
    token: str
    out: Callable[[str], None] = print
    session: requests.Session = field(default_factory=requests.Session)
    results: list[Result] = field(default_factory=list)
    attribute: str | None = None  # the custom attribute created for the run

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.api = f"{self.base_url}/api/2"
        self.suffix = secrets.token_hex(3)
        self.label = f"mock-exist conformance {self.suffix}"
        self.day = date.today() - timedelta(days=400)  # far from today's real data
        self.day2 = self.day + timedelta(days=1)

    # ----------------------------------------------------------------- plumbing

    def headers(self, token: str | None = "") -> dict:
        token = self.token if token == "" else token
        return {} if token is None else {"Authorization": f"Bearer {token}"}

    def get(
        self, path: str, token: str | None = "", **params: str | int | None
    ) -> requests.Response:
        return self.session.get(
            f"{self.api}/{path}", params=params, timeout=TIMEOUT, headers=self.headers(token)
        )

    def post(self, path: str, items: object) -> requests.Response:
        return self.session.post(
            f"{self.api}/{path}", json=items, timeout=TIMEOUT, headers=self.headers()
        )

    def check(self, name: str, fn: Callable[[], None]) -> bool:
        try:
            fn()
        except CheckFailed as err:
            self.results.append(Result(name, False, str(err)))
        except (requests.RequestException, ValueError, KeyError, TypeError, IndexError) as err:
            self.results.append(Result(name, False, f"{type(err).__name__}: {err}"))
        else:
            self.results.append(Result(name, True))
        result = self.results[-1]
        self.out(
            f"{'PASS' if result.passed else 'FAIL'}  {name}"
            + (f"\n      {result.detail}" if result.detail else "")
        )
        return result.passed

    # ----------------------------------------------------------------- the checks

    def run(self) -> list[Result]:
        self.check("401 without a token, with a JSON detail", self.no_token)
        self.check("401 for an unknown token", self.bad_token)
        if not self.check("profile: 200 with username and timezone", self.profile):
            self.out("      (the token does not work: stopping here)")
            return self.results
        self.check("paging: count, absolute next, limit honoured", self.paging)
        self.check("paging: a page past the end is 404", self.page_past_end)
        self.check("templates: a list of name + value_type", self.templates)
        self.check("404 for an unknown path", self.unknown_path)
        self.check("405 for a GET on a write endpoint", self.wrong_method)
        self.check("415 for a write body not declared application/json", self.not_json_type)
        self.check("400 with a detail for malformed JSON", self.malformed)
        if not self.check("create: a custom attribute named from its label", self.create):
            self.out("      (no attribute of our own to write to: stopping here)")
            if self.attribute is not None:  # created, under another name: give it up anyway
                self.check("release: 200, the attribute is given up", self.release)
            return self.results
        try:
            self.check("create again: 202 with a validation failure", self.create_again)
            self.check("update: 200, success echoes the items", self.update)
            self.check(
                "update: a float on an integer attribute is 202 validation", self.update_float
            )
            self.check("update: a missing field is 202 missing_field, listed", self.update_missing)
            self.check(
                "update: an unknown attribute fails the item, not the request", self.update_unknown
            )
            self.check("update: more than 35 objects is refused whole", self.too_many)
            self.check("increment: 200 with the new total in current", self.increment)
            self.check("values: reads back what was written, newest first", self.read_back)
            self.check("with-values: days=2 lists both days", self.with_values)
            self.check("owned: lists the created attribute", self.owned)
            self.check(
                "scopes: attributes/ lists it in group custom (the token's read scope)",
                self.listed_by_scope,
            )
        finally:
            self.check("release: 200, the attribute is given up", self.release)
        self.check("after release: update is 202 unauthorised", self.after_release)
        return self.results

    def no_token(self) -> None:
        r = self.get("accounts/profile/", token=None)
        expect(r.status_code == 401, f"status {r.status_code}")
        expect(isinstance(r.json().get("detail"), str), f"body {r.text[:200]}")

    def bad_token(self) -> None:
        r = self.get("accounts/profile/", token="0" * 40)
        expect(r.status_code == 401, f"status {r.status_code}")

    def profile(self) -> None:
        r = self.get("accounts/profile/")
        expect(r.status_code == 200, f"status {r.status_code}: {r.text[:200]}")
        body = r.json()
        expect(
            isinstance(body.get("username"), str) and isinstance(body.get("timezone"), str),
            f"body {r.text[:200]}",
        )

    def paging(self) -> None:
        r = self.get("attributes/templates/", limit=2)
        expect(r.status_code == 200, f"status {r.status_code}")
        body = r.json()
        expect({"count", "next", "previous", "results"} <= set(body), f"keys {sorted(body)}")
        expect(len(body["results"]) == min(2, body["count"]), f"{len(body['results'])} results")
        if body["count"] > 2:
            parts = urlsplit(body["next"] or "")
            expect(
                parts.scheme in ("http", "https")
                and "page=2" in parts.query
                and "limit=2" in parts.query,
                f"next {body['next']!r}",
            )

    def page_past_end(self) -> None:
        r = self.get("attributes/templates/", page=100000)
        expect(r.status_code == 404, f"status {r.status_code}")

    def templates(self) -> None:
        r = self.get("attributes/templates/", limit=100)
        results = r.json()["results"]
        expect(r.status_code == 200 and results, f"status {r.status_code}")
        expect(
            all("name" in t and isinstance(t.get("value_type"), int) for t in results),
            f"first {results[0]}",
        )

    def unknown_path(self) -> None:
        r = self.get("no-such-endpoint/")
        expect(r.status_code == 404, f"status {r.status_code}")

    def wrong_method(self) -> None:
        r = self.get("attributes/update/")
        expect(r.status_code == 405, f"status {r.status_code}")

    def not_json_type(self) -> None:
        r = self.session.post(
            f"{self.api}/attributes/update/",
            data="[]",
            timeout=TIMEOUT,
            headers={**self.headers(), "Content-Type": "text/plain"},
        )
        expect(r.status_code == 415, f"status {r.status_code}")

    def malformed(self) -> None:
        r = self.session.post(
            f"{self.api}/attributes/update/",
            data="[{",
            timeout=TIMEOUT,
            headers={**self.headers(), "Content-Type": "application/json"},
        )
        expect(r.status_code == 400, f"status {r.status_code}")
        expect(isinstance(r.json().get("detail"), str), f"body {r.text[:200]}")

    def create(self) -> None:
        r = self.post(
            "attributes/create/",
            [{"label": self.label, "group": "custom", "value_type": 0, "manual": True}],
        )
        expect(r.status_code == 200, f"status {r.status_code}: {r.text[:300]}")
        [item] = r.json()["success"]
        if isinstance(item.get("name"), str):
            self.attribute = item["name"]  # released at the end by the name Exist gave it
        expect(item.get("name") == f"mock_exist_conformance_{self.suffix}", f"item {item}")

    def create_again(self) -> None:
        r = self.post(
            "attributes/create/", [{"label": self.label, "group": "custom", "value_type": 0}]
        )
        expect(r.status_code == 202, f"status {r.status_code}")
        [failed] = r.json()["failed"]
        expect(failed.get("error_code") == "validation", f"failed {failed}")

    def update(self) -> None:
        items = [{"name": self.attribute, "date": self.day.isoformat(), "value": 40}]
        r = self.post("attributes/update/", items)
        expect(r.status_code == 200, f"status {r.status_code}: {r.text[:300]}")
        expect(r.json() == {"success": items, "failed": []}, f"body {r.text[:300]}")

    def update_float(self) -> None:
        r = self.post(
            "attributes/update/",
            [{"name": self.attribute, "date": self.day2.isoformat(), "value": 9.5}],
        )
        expect(r.status_code == 202, f"status {r.status_code}")
        expect(r.json()["failed"][0]["error_code"] == "validation", f"body {r.text[:300]}")

    def update_missing(self) -> None:
        r = self.post("attributes/update/", [{"name": self.attribute}])
        expect(r.status_code == 202, f"status {r.status_code}")
        failed = r.json()["failed"][0]
        expect(failed["error_code"] == "missing_field", f"failed {failed}")
        expect("date" in failed["error"] and "value" in failed["error"], f"failed {failed}")

    def update_unknown(self) -> None:
        name = f"mock_exist_conformance_missing_{self.suffix}"
        r = self.post(
            "attributes/update/",
            [
                {"name": name, "date": self.day.isoformat(), "value": 1},
                {"name": self.attribute, "date": self.day.isoformat(), "value": 41},
            ],
        )
        expect(r.status_code == 202, f"status {r.status_code}")
        body = r.json()
        expect(len(body["success"]) == 1 and len(body["failed"]) == 1, f"body {r.text[:300]}")
        expect(
            body["failed"][0]["error_code"] in ("not_found", "unauthorised"),
            f"failed {body['failed'][0]}",
        )

    def too_many(self) -> None:
        # 36 times the same object, the value that day already has (41, from update_unknown):
        # a service that accepted it would change nothing and write no other date
        items = [{"name": self.attribute, "date": self.day.isoformat(), "value": 41}] * 36
        r = self.post("attributes/update/", items)
        expect(r.status_code == 400, f"status {r.status_code}: {r.text[:200]}")

    def increment(self) -> None:
        r = self.post(
            "attributes/increment/",
            [{"name": self.attribute, "date": self.day.isoformat(), "value": 2}],
        )
        expect(r.status_code == 200, f"status {r.status_code}: {r.text[:300]}")
        expect(r.json()["success"][0].get("current") == 43, f"body {r.text[:300]}")

    def read_back(self) -> None:
        r = self.get("attributes/values/", attribute=self.attribute, date_max=self.day2.isoformat())
        expect(r.status_code == 200, f"status {r.status_code}")
        results = r.json()["results"]
        expect(
            results[:2]
            == [
                {"date": self.day2.isoformat(), "value": None},
                {"date": self.day.isoformat(), "value": 43},
            ],
            f"results {results[:2]}",
        )

    def with_values(self) -> None:
        r = self.get(
            "attributes/with-values/",
            attributes=self.attribute,
            days=2,
            date_max=self.day2.isoformat(),
        )
        expect(r.status_code == 200, f"status {r.status_code}")
        [attr] = [a for a in r.json()["results"] if a["name"] == self.attribute]
        expect([v["value"] for v in attr["values"]] == [None, 43], f"values {attr['values']}")

    def owned(self) -> None:
        r = self.get("attributes/owned/", limit=100)
        expect(r.status_code == 200, f"status {r.status_code}")
        names = [a["name"] for a in r.json()["results"]]
        expect(self.attribute in names, f"owned {names}")

    def listed_by_scope(self) -> None:
        r = self.get("attributes/", groups="custom", limit=100, manual=1)
        expect(r.status_code == 200, f"status {r.status_code}")
        found = [a for a in r.json()["results"] if a["name"] == self.attribute]
        expect(
            len(found) == 1 and found[0]["group"]["name"] == "custom",
            f"{self.attribute} not listed with custom_read/manual_read: "
            f"{[a['name'] for a in r.json()['results']]}",
        )

    def release(self) -> None:
        if self.attribute is None:
            return
        r = self.post("attributes/release/", [{"name": self.attribute}])
        expect(r.status_code == 200, f"status {r.status_code}: {r.text[:300]}")

    def after_release(self) -> None:
        r = self.post(
            "attributes/update/",
            [{"name": self.attribute, "date": self.day.isoformat(), "value": 1}],
        )
        expect(r.status_code == 202, f"status {r.status_code}")
        expect(r.json()["failed"][0]["error_code"] == "unauthorised", f"body {r.text[:300]}")


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` or a loopback IP address (``127.0.0.0/8``, ``::1``); a name that
    only starts like one (``127.example.com``) is not."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def notice(base_url: str, suite: Suite) -> str:
    return (
        f"mock-exist conformance suite against {base_url}\n"
        f'It will create ONE custom attribute, "{suite.label}" (group custom, integer), write\n'
        f"values to it on two dates only, {suite.day} and {suite.day2},\n"
        "and release it at the end. It writes to no other attribute. The API cannot delete\n"
        "attributes: remove it in Exist's web app afterwards if you like. Use a throwaway account."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mock-exist-conformance",
        description="Check an Exist API v2 (mock-exist, or exist.io with a throwaway account) "
        "against the documented behaviours mock-exist emulates; prints PASS/FAIL per check.",
    )
    parser.add_argument(
        "--base-url",
        required=True,
        help="e.g. http://127.0.0.1:5000 or https://exist.io (API under /api/2/)",
    )
    parser.add_argument(
        "--token",
        required=True,
        help="a Bearer token with custom_read and custom_write (or manual_*)",
    )
    parser.add_argument(
        "--yes", action="store_true", help="don't ask before writing to a non-loopback host"
    )
    args = parser.parse_args(argv)
    host = urlsplit(args.base_url).hostname or ""
    if urlsplit(args.base_url).scheme not in ("http", "https") or not host:
        print(
            f"mock-exist-conformance: --base-url {args.base_url!r} is not an http(s) URL",
            file=sys.stderr,
        )
        return 2
    suite = Suite(args.base_url, args.token)
    print(notice(args.base_url, suite), flush=True)
    if not is_loopback_host(host) and not args.yes:
        if not sys.stdin.isatty():
            print(
                "mock-exist-conformance: not a loopback host: pass --yes to go ahead",
                file=sys.stderr,
            )
            return 2
        if input("Type yes to go ahead: ").strip().lower() != "yes":
            print("Nothing written.")
            return 2
    try:
        results = suite.run()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    failed = [r for r in results if not r.passed]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed", flush=True)
    if suite.attribute:
        print(f"(created and released: {suite.attribute})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
