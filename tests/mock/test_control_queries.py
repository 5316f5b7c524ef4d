"""Query parameters of the control API are checked like its bodies (a 400 naming the field),
and the dashboard's chart captions show whole numbers as such (issue 16 review, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/_mock/journal", {"status": "xyz"}, "status"),
        ("/_mock/journal", {"status": "4x"}, "status"),
        ("/_mock/journal", {"status": "999"}, "status"),
        ("/_mock/journal", {"limit": "-1"}, "limit"),
        ("/_mock/journal", {"limit": "ten"}, "limit"),
        ("/_mock/journal", {"order": "sideways"}, "order"),
        ("/_mock/ledger", {"date": "bad"}, "date"),
        ("/_mock/ledger", {"date": "2025-1-1"}, "date"),
    ],
)
def test_a_bad_query_parameter_is_a_400_naming_it(mock_exist, path, params, field):
    r = requests.get(mock_exist.url + path, params=params, timeout=10)
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith(f"{field}: "), r.json()


def test_good_query_parameters_still_filter(mock_exist, api):
    api.get("attributes/no-such/")  # a 404 in the journal
    api.post("attributes/acquire/", [{"template": "steps"}])
    api.post("attributes/update/", [{"name": "steps", "date": "2025-06-15", "value": 5}])
    base = mock_exist.url
    journal = requests.get(
        f"{base}/_mock/journal", params={"status": "4xx", "limit": "0"}, timeout=10
    )
    assert journal.status_code == 200 and journal.json() == []
    journal = requests.get(
        f"{base}/_mock/journal",
        timeout=10,
        params={"status": "4xx", "limit": "5", "order": "newest"},
    )
    assert [e["status"] for e in journal.json()] == [404]
    ledger = requests.get(f"{base}/_mock/ledger", params={"date": "2025-06-15"}, timeout=10)
    assert ledger.status_code == 200 and [e["after"] for e in ledger.json()] == [5]


def test_chart_captions_show_whole_numbers_without_a_decimal(mock_exist):
    mock_exist.state.seed_attribute(None, template="steps", values={"2025-06-15": 4321})
    page = requests.get(f"{mock_exist.url}/_mock/", timeout=10).text
    assert "max 4321<" in page, page[page.find("max ") :][:40]
    assert "max 4321.0" not in page


def test_the_dockerfile_names_test_files_that_exist():
    text = (ROOT / "docker" / "Dockerfile").read_text()
    named = [word.strip("(),.;:") for word in text.split() if word.startswith("tests/")]
    assert named, "the Dockerfile names no test file"
    missing = [name for name in named if not (ROOT / name).exists()]
    assert not missing, missing
