"""The add-on's container, read statically: the HEALTHCHECK (which the Supervisor's watchdog
follows) on /livez, not the broker-aware /healthz; s6-overlay giving the bridge its whole stop
time, the AppArmor profile letting it read what Python needs, the options' checks matching
config.yaml, and DOCS.md telling how to backfill. (tests/images builds and runs the image.)"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mqtt_bridge.addon import glue
from mqtt_bridge.addon.options import ACCOUNT_TYPES, OPTION_TYPES
from mqtt_bridge.config.model import BridgeSettings

ROOT = Path(__file__).resolve().parents[2]
ADDON = ROOT / "exist-bridge"


def config_yaml() -> dict:
    return yaml.safe_load((ADDON / "config.yaml").read_text())


def dockerfile_env() -> dict[str, str]:
    """The ``ENV`` values the Dockerfile sets (``KEY=VALUE`` forms, continuation lines joined)."""
    text = (ADDON / "Dockerfile").read_text().replace("\\\n", " ")
    env = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(re.findall(r"([A-Z0-9_]+)=(\S+)", line))
    return env


def test_the_healthcheck_the_watchdog_follows_uses_livez_not_the_broker_aware_healthz():
    assert "watchdog" not in config_yaml()  # the linter calls a watchdog URL obsolete
    text = (ADDON / "Dockerfile").read_text().replace("\\\n", " ")
    check = [line for line in text.splitlines() if line.startswith("HEALTHCHECK")]
    assert len(check) == 1
    assert f"http://127.0.0.1:{glue.HTTP_PORT}/livez" in check[0]
    assert "/healthz" not in check[0]


def test_s6_gives_the_bridge_its_stop_timeout_within_the_supervisors_timeout():
    env = dockerfile_env()
    stop_ms = BridgeSettings().stop_timeout * 1000
    assert "S6_KILL_GRACETIME" in env, env
    grace = int(env["S6_KILL_GRACETIME"])
    assert grace >= stop_ms + 1000  # the bridge's deadline plus a margin
    assert grace <= config_yaml()["timeout"] * 1000  # before Docker's SIGKILL
    assert env.get("S6_CMD_RECEIVE_SIGNALS") == "1"  # docker stop's SIGTERM reaches the bridge


def test_the_apparmor_profile_lets_python_read_what_it_needs():
    text = (ADDON / "apparmor.txt").read_text()
    rules = {
        line.split()[0]: line.split()[1].rstrip(",")
        for line in (raw.split("#", 1)[0].strip() for raw in text.splitlines())
        if line.startswith("/") and len(line.split()) >= 2
    }
    for path, access in [
        ("/usr/share/zoneinfo/**", "r"),  # time zones (zoneinfo)
        ("/usr/local/lib/python3*/**", "r"),  # Python's own library
        ("/usr/lib/python3*/**", "r"),
        ("/etc/ssl/**", "r"),  # CA certificates for exist.io
        ("/tmp/{,**}", "rw"),
    ]:
        assert path in rules, f"{path} missing from apparmor.txt"
        assert set(access) <= set(rules[path]), (path, rules[path])


def test_the_option_checks_follow_config_yaml():
    schema = config_yaml()["schema"]
    assert set(OPTION_TYPES) | {"exist_token", "accounts"} == set(schema)
    check_types_follow(OPTION_TYPES, schema)
    (account,) = schema["accounts"]  # a list of accounts, each checked by ACCOUNT_TYPES
    assert set(ACCOUNT_TYPES) == set(account)
    check_types_follow(ACCOUNT_TYPES, account)


def check_types_follow(types: dict, schema: dict) -> None:
    """Each of ``types`` (an option -> (kind, argument)) is what ``schema`` declares."""
    for name, (kind, arg) in types.items():
        declared = str(schema[name]).rstrip("?")
        if kind == "int":
            if declared == "port":
                assert arg == (1, 65535)
            else:
                assert declared == f"int({arg[0]},{arg[1]})", name
        elif kind == "list":
            assert declared == f"list({'|'.join(arg)})", name
        elif kind == "bool":
            assert declared == "bool", name
        else:
            assert declared in ("str", "password") or declared.startswith("match("), name


def test_docs_tell_an_addon_user_how_to_backfill():
    docs = (ADDON / "DOCS.md").read_text()
    assert "## Filling in the past (backfill)" in docs
    section = docs.split("## Filling in the past (backfill)", 1)[1].split("\n## ", 1)[0]
    # the panel first: the plan, the run, stop and resume, inside the add-on
    for words in ("**Show the plan**", "**Run**", "**Stop**", "**Resume**", "homeassistant_api"):
        assert words in section, words
    # the command on another machine for what statistics lack, and its two cautions
    assert "exist-bridge backfill" in section
    assert "--dry-run" in section
    assert "outbox" in section and "--to" in section  # overlapping days with the add-on's
    assert "requests_per_hour" in section  # the two budgets share one token's limit


def test_docs_describe_livez_and_healthz():
    docs = (ADDON / "DOCS.md").read_text()
    assert "`/livez`" in docs and "`/healthz`" in docs
    reference = (ROOT / "docs" / "reference" / "http.md").read_text()
    assert "| `/livez` |" in reference
