"""The Python scripts of the Exist guide (guide/write_client.md), run unchanged against the mock.

Only the host (and the local redirect port, so the test can't collide with something on 8000) and
the ``[your_token]``-style placeholders are filled in. Each script must print what the guide says
it prints. The mock clock is set to 2022-08-09, the guide's "today", so the increment example
prints the guide's own numbers (27, then 28).
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from ..support.html import FormParser
from ..support.net import free_port

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject

EXAMPLES = Path(__file__).parent / "guide_examples"
HEX40 = r"[0-9a-f]{40}"


@pytest.fixture
def redirect_port() -> int:
    return free_port()


@pytest.fixture
def mock_exist_config(redirect_port) -> dict:
    return {
        "client_id": "greatreads",
        "client_secret": "greatreads_secret",
        "client_label": "Greatreads",
        "redirect_uris": [f"http://localhost:{redirect_port}/"],
        "clock_start": datetime(2022, 8, 9, 12, 0, tzinfo=timezone.utc),
        "clock_frozen": True,
    }


class Guide:
    def __init__(self, tmp_path: Path, mock, port: int):
        self.tmp_path = tmp_path
        self.mock = mock
        self.port = port
        self.token = ""

    def script(self, name: str) -> Path:
        code = (EXAMPLES / name).read_text()
        code = code.replace("https://exist.io", self.mock.url)
        code = code.replace("localhost:8000", f"localhost:{self.port}")
        code = code.replace("('127.0.0.1', 8000)", f"('127.0.0.1', {self.port})")
        code = re.sub(r"CLIENT_ID = (''|\"\[your_id\]\")", "CLIENT_ID = 'greatreads'", code)
        code = code.replace("CLIENT_SECRET = ''", "CLIENT_SECRET = 'greatreads_secret'")
        code = code.replace("TOKEN = '[your_token]'", f"TOKEN = '{self.token}'")
        path = self.tmp_path / name
        path.write_text(code)
        return path

    def run(self, name: str, stdin: str = "") -> str:
        done = subprocess.run(
            [sys.executable, str(self.script(name))],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture
def guide(tmp_path, mock_exist, redirect_port) -> Guide:
    return Guide(tmp_path, mock_exist, redirect_port)


def listening(port: int) -> bool:
    """Whether something listens on ``port``, without connecting (the guide's listener serves
    exactly one connection, so a probe connection would use it up)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                return True
    return False


def wait_for_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        if listening(port):
            return
        time.sleep(0.05)
    raise AssertionError("receive_authorisation.py never listened")


def authorise_in_browser(url: str) -> None:
    """What the user does: open the URL, press Allow, get sent to the local listener."""
    page = requests.get(url, timeout=10)
    form = FormParser()
    form.feed(page.text)
    answer = requests.post(
        page.url, data={**form.fields, "action": "allow"}, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302
    # the guide's listener answers without finishing its headers; browsers cope
    with contextlib.suppress(requests.RequestException):
        requests.get(answer.headers["Location"], timeout=20)


def test_the_guides_scripts_print_what_the_guide_says(guide, mock_exist, redirect_port):
    # request_authorisation.py prints the authorise URL
    url = guide.run("request_authorisation.py").strip()
    assert url == (
        f"{mock_exist.url}/oauth2/authorize?client_id=greatreads&response_type=code"
        f"&redirect_uri=http%3A%2F%2Flocalhost%3A{redirect_port}%2F&scope=media_write"
    )

    # receive_authorisation.py listens once, exchanges the code and prints both tokens
    listener = subprocess.Popen(
        [sys.executable, str(guide.script("receive_authorisation.py"))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(redirect_port, listener)
        authorise_in_browser(url)
        out, err = listener.communicate(timeout=30)
    finally:
        listener.kill()
    assert listener.returncode == 0, err
    access = re.search(rf"^Access token:  ({HEX40})$", out, re.M).group(1)
    refresh = re.search(rf"^Refresh token: ({HEX40})$", out, re.M).group(1)

    # refresh_token.py asks for the refresh token and prints a new pair
    out = guide.run("refresh_token.py", stdin=refresh + "\n")
    assert "\nNEW TOKENS\n" in out
    new_access = re.search(rf"^Access token:  ({HEX40})$", out, re.M).group(1)
    assert re.search(rf"^Refresh token: ({HEX40})$", out, re.M)
    assert new_access != access
    guide.token = new_access

    assert guide.run("acquire_attribute.py") == "Acquired successfully.\n"
    assert mock_exist.state.attribute("pages_read")["service"]["name"] == "greatreads"

    out = guide.run("create_attribute.py")
    assert out == (
        "Created successfully:\n"
        "{'group': 'media',\n 'label': 'Time reading',\n 'manual': False,\n"
        " 'name': 'time_reading',\n 'priority': 9,\n 'value_type': 3}\n"
    )

    out = guide.run("update_attribute.py", stdin="2022-08-09\n26\n")
    assert out == (
        "UPDATE PAGES READ\nDate (yyyy-mm-dd format): Value (integer): Updated successfully.\n"
    )
    assert mock_exist.state.value("pages_read", "2022-08-09") == 26

    assert guide.run("increment_attribute.py") == (
        "INCREMENT PAGES READ\nUpdated successfully. New value is 27.\n"
    )
    assert guide.run("increment_attribute.py") == (
        "INCREMENT PAGES READ\nUpdated successfully. New value is 28.\n"
    )
