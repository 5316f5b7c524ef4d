"""Help texts a newcomer can follow (issue 24, item 7): every option says what it is (a default
alone is no help), exist.base_url has one name on the command line (`--exist-base-url`; the old
`--base-url` and `--exist-url` still work and say the new name), every `-c` points to
`exist-bridge init`, `authorize -c` takes the configuration's values, and the top-level help
names what `status` shows."""

from __future__ import annotations

import argparse
import io
import re

import pytest

from mqtt_bridge import cli

from ..support.net import free_port

COMMANDS = ["run", "check", "test", "status", "authorize", "init", "demo", "backfill", "addon"]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def options(command: str) -> dict[str, str]:
    """Each option of ``command``'s --help with its help text (the lines after it joined)."""
    code, out, _ = run(command, "--help")
    assert code == 0
    text = out.split("options:", 1)[1]
    found: dict[str, str] = {}
    for block in re.split(r"\n  (?=-)", "\n" + text):
        block = block.strip()
        if not block:
            continue
        names = re.match(r"((?:-{1,2}[\w-]+(?: [A-Z_\[\].]+)?(?:, )?)+)", block)
        assert names, block
        found[names.group(1)] = " ".join(block[names.end() :].split())
    return found


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_says_what_it_is(command):
    for option, text in options(command).items():
        words = re.sub(r"\(default:[^)]*\)", "", text).strip()
        assert len(words.split()) >= 2, f"{command} {option}: {text!r}"


def test_addon_help_reads_as_help():
    found = options("addon")
    assert found["--http-host HOST"].startswith("where the HTTP endpoint")
    assert found["--http-host HOST"].endswith("(default: 0.0.0.0)")
    assert found["--options FILE"].endswith("(default: /data/options.json)")


def test_backfill_verbose_is_described():
    assert options("backfill")["-v, --verbose"] == "debug logging, tracebacks on errors"


@pytest.mark.parametrize("command", ["addon", "authorize"])
def test_exist_base_url_has_one_name(command):
    code, out, _ = run(command, "--help")
    assert "--exist-base-url URL" in out
    assert not re.search(r"--(exist-url|base-url)\b", out.replace("--exist-base-url", ""))


def test_the_old_authorize_flag_still_works_and_says_its_new_name(monkeypatch):
    monkeypatch.delenv("EXIST_BASE_URL", raising=False)
    code, _, err = run(
        "authorize", "--client-id", "a", "--client-secret", "b", "--scopes", "x",
        "--base-url", "ftp://nowhere",
    )  # fmt: skip
    assert code == 1
    assert "exist-bridge: warning: --base-url is now --exist-base-url" in err
    assert "--exist-base-url must start with http:// or https://, got 'ftp://nowhere'" in err


def test_the_old_addon_flag_still_works_and_says_its_new_name(tmp_path):
    code, _, err = run(
        "addon", "--options", str(tmp_path / "missing.json"), "--exist-url", "http://mock"
    )
    assert code == 1
    assert "exist-bridge: warning: --exist-url is now --exist-base-url" in err


@pytest.mark.parametrize("command", ["run", "check", "test", "status", "authorize", "backfill"])
def test_every_config_option_points_to_init(command):
    found = options(command)
    [text] = [t for o, t in found.items() if o.startswith("-c FILE")]
    assert "`exist-bridge init` writes a commented starter" in text
    assert "examples/" not in text


def test_the_top_level_help_says_what_status_shows():
    code, out, _ = run("--help")
    [line] = [x for x in out.splitlines() if x.strip().startswith("status")]
    assert "pending totals" in line and "queue depth" not in line


def test_authorize_takes_the_configuration_values(tmp_path, monkeypatch):
    for name in ("EXIST_CLIENT_ID", "EXIST_CLIENT_SECRET", "EXIST_BASE_URL", "EXIST_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_SECRET", "s3cret")
    config = tmp_path / "bridge.yaml"
    config.write_text(
        "exist:\n"
        "  base_url: http://127.0.0.1:9\n"
        "  token_file: tokens/token.json\n"
        "  client_id: my_app\n"
        "  client_secret: !env APP_SECRET\n"
        "mappings: [{topic: a, attribute: coffees}]\n"
    )
    port = free_port()
    code, out, err = run(
        "authorize", "-c", str(config), "--scopes", "food_write",
        "--redirect-uri", f"http://127.0.0.1:{port}/", "--timeout", "0.3",
    )  # fmt: skip
    assert code == 1 and "no redirect from Exist arrived" in err, err  # no browser came
    [url] = re.findall(r"http://\S+/oauth2/authorize\?\S+", out)
    assert url.startswith("http://127.0.0.1:9/oauth2/authorize?")  # exist.base_url
    assert "client_id=my_app" in url  # exist.client_id; the secret from exist.client_secret:
    assert "is required" not in err


def test_authorize_says_where_a_missing_value_may_come_from(tmp_path, monkeypatch):
    monkeypatch.delenv("EXIST_CLIENT_ID", raising=False)
    config = tmp_path / "bridge.yaml"
    config.write_text("exist: {token_file: t.json}\nmappings: [{topic: a, attribute: coffees}]\n")
    code, _, err = run("authorize", "-c", str(config), "--scopes", "x", "--client-secret", "s")
    assert code == 1
    assert err == (
        "exist-bridge: error: --client-id is required (or set EXIST_CLIENT_ID, or "
        f"exist.client_id in {config})\n"
    )


def test_no_option_is_left_without_help():
    parser = cli.build_parser(io.StringIO(), io.StringIO())
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, command in sub.choices.items():
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
