"""Options, the Supervisor's MQTT service, the starter mappings file, and the config they make."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import requests
import yaml

from ..config import BridgeConfig, ConfigError, parse_config
from ..config.build import BASE_URL_VARIABLE
from .options import (
    ACCOUNT_TYPES,
    AccountOption,
    AddonError,
    SettingsError,
    check_options,
    check_service,
    split_problems,
)

__all__ = ["AddonError", "AddonPaths", "SettingsError", "build_config", "read_options"]

log = logging.getLogger("exist_bridge.addon")

DEFAULT_MAPPINGS_FILE = "exist-bridge.yaml"
HTTP_PORT = 8099  # config.yaml's ingress_port
INGRESS_PEER = "172.30.32.2"  # the Supervisor's ingress proxy, as Home Assistant documents it
TIMEOUT = 10.0
# The keys the mappings file may hold; everything else comes from the add-on.
FILE_KEYS = ("attributes", "mappings", "read")
MQTT_OPTIONS = (  # the add-on's options for the mqtt section
    "mqtt_host, mqtt_port, mqtt_username, mqtt_password, mqtt_tls, mqtt_client_id, "
    "mqtt_topic_prefix and mqtt_discovery in its Configuration tab"
)
# Secrets reach the config through !env, never through its text.
TOKEN_VAR = "EXIST_BRIDGE_ADDON_TOKEN"
ACCOUNT_TOKEN_VAR = "EXIST_BRIDGE_ADDON_ACCOUNTS_{}_TOKEN"  # accounts[N].token
MQTT_PASSWORD_VAR = "EXIST_BRIDGE_ADDON_MQTT_PASSWORD"

# add-on option -> (section, key) of the bridge configuration, copied when set
PASSED_THROUGH = {
    "timezone": ("exist", "timezone"),
    "requests_per_hour": ("exist", "requests_per_hour"),
    "event_delay": ("bridge", "event_delay"),
    "total_delay": ("bridge", "total_delay"),
    "flush_interval": ("bridge", "flush_interval"),  # deprecated (the bridge warns), issue 14
    "mqtt_discovery": ("mqtt", "discovery"),
    "mqtt_client_id": ("mqtt", "client_id"),
    "mqtt_topic_prefix": ("mqtt", "topic_prefix"),
}
# configuration key -> the add-on option that sets it as it is, for messages
OPTION_OF = {f"{s}.{k}": f"add-on option `{o}`" for o, (s, k) in PASSED_THROUGH.items()}
OPTION_OF["exist.token"] = "add-on option `exist_token`"


@dataclass(frozen=True)
class AddonPaths:
    """Where the add-on's world is. The defaults are the Supervisor's layout; tests inject
    their own."""

    options: Path = Path("/data/options.json")
    data_dir: Path = Path("/data")
    config_dir: Path = Path("/config")
    supervisor_url: str = "http://supervisor"
    supervisor_token: str | None = field(
        default_factory=lambda: os.environ.get("SUPERVISOR_TOKEN"), repr=False
    )
    http_host: str = "0.0.0.0"  # ingress reaches the container from the Supervisor
    http_port: int = HTTP_PORT
    exist_base_url: str | None = None  # another Exist server (the mock, in tests)
    # Home Assistant for the backfill panel (default: the Supervisor's proxies to its APIs,
    # `homeassistant_api: true` in config.yaml); tests point them at stand-ins
    home_assistant_url: str | None = None
    home_assistant_websocket: str | None = None
    ingress_peer: str = INGRESS_PEER  # the only address the backfill panel answers

    def home_assistant(self) -> tuple[str, str]:
        """Home Assistant's REST base (``/api/...`` appended) and websocket API."""
        base = self.supervisor_url.rstrip("/")
        ws = "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]
        return (
            self.home_assistant_url or f"{base}/core",
            self.home_assistant_websocket or f"{ws}/core/websocket",
        )


def read_options(path: Path) -> dict[str, Any]:
    """The add-on options the Supervisor wrote (``/data/options.json``)."""
    try:
        options = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AddonError(
            f"{path} does not exist: `exist-bridge addon` runs inside the Home Assistant add-on "
            "(elsewhere use `exist-bridge run -c FILE`)"
        ) from None
    except (OSError, ValueError) as err:
        raise AddonError(f"can't read the add-on options {path}: {err}") from None
    if not isinstance(options, dict):
        raise AddonError(f"{path}: expected a JSON object of options")
    return options


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    source: str = "the add-on options"


def mqtt_service(supervisor_url: str, token: str | None, timeout: float = TIMEOUT) -> Broker:
    """The broker the Supervisor offers (``GET /services/mqtt``): host, port, TLS, credentials."""
    url = supervisor_url.rstrip("/") + "/services/mqtt"
    hint = "or set mqtt_host (and mqtt_username, mqtt_password) in the add-on options"
    if not token:
        raise AddonError(f"SUPERVISOR_TOKEN is not set, so {url} can't be asked; {hint}")
    try:
        response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
    except requests.RequestException as err:
        raise AddonError(f"can't reach the Supervisor at {url}: {err}; {hint}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    message = answer.get("message") if isinstance(answer, dict) else None
    if response.status_code != 200 or not isinstance(answer, dict) or answer.get("result") != "ok":
        why = message or f"HTTP {response.status_code}"
        raise AddonError(
            f"the Supervisor offers no MQTT broker ({url}: {why}): install and start the "
            f"Mosquitto broker add-on, {hint}"
        )
    host, port = check_service(answer.get("data"), url)
    data: dict[str, Any] = answer["data"]  # a mapping: check_service made sure
    return Broker(
        host=host,
        port=port,
        username=data.get("username") or None,
        password=data.get("password") or None,
        tls=bool(data.get("ssl")),
        source=f"the Supervisor's MQTT service (add-on {data.get('addon', '?')})",
    )


def broker(options: dict[str, Any], paths: AddonPaths) -> Broker:
    """The broker: ``mqtt_host`` from the options if set (then nothing is asked), else the
    Supervisor's MQTT service, with ``mqtt_port``/``mqtt_username``/``mqtt_password``/
    ``mqtt_tls`` overriding each its own value."""
    if options.get("mqtt_host"):
        found = Broker(host=str(options["mqtt_host"]), port=1883)
    else:
        found = mqtt_service(paths.supervisor_url, paths.supervisor_token)
    overrides = {
        "port": options.get("mqtt_port"),
        "username": options.get("mqtt_username"),
        "password": options.get("mqtt_password"),
        "tls": options.get("mqtt_tls"),
    }
    values = {k: v for k, v in overrides.items() if v not in (None, "")}
    used = [f"mqtt_{k}" for k in values]
    if options.get("mqtt_host") and "port" not in values and values.get("tls"):
        values["port"] = 8883
    if options.get("mqtt_host"):
        source = "the add-on options " + ", ".join(["mqtt_host", *used])
    elif used:
        source = f"{found.source}, with the add-on option(s) {', '.join(used)}"
    else:
        return found
    return Broker(**{**found.__dict__, **values, "source": source})


def mappings_path(options: Mapping[str, Any], paths: AddonPaths) -> Path:
    """The user's mappings file (option ``mappings_file``, in the add-on's config folder)."""
    return paths.config_dir / str(options.get("mappings_file") or DEFAULT_MAPPINGS_FILE)


def ensure_mappings_file(path: Path) -> bool:
    """Write the commented starter to ``path`` if there is no file yet; True if it did."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    starter = resources.files(__package__).joinpath("starter.yaml").read_text(encoding="utf-8")
    path.write_text(starter, encoding="utf-8")
    log.warning(
        "wrote a starter mappings file to %s (in Home Assistant: the add-on's folder under "
        "/addon_configs): add your attributes and mappings there, then restart the add-on",
        path,
    )
    return True


def _file_keys(text: str) -> list[str]:
    """The top-level keys of the mappings file (its YAML errors are left to the config
    reader, which reports them with their line)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return []
    if not isinstance(node, yaml.MappingNode):
        return []
    return [str(k.value) for k, _ in node.value if isinstance(k, yaml.ScalarNode)]


def _no_mappings(text: str) -> bool:
    """Whether the mappings file is valid YAML without ``mappings`` (only comments, say)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return False  # the config reader reports it, with its line
    return node is None or (
        isinstance(node, yaml.MappingNode) and "mappings" not in _file_keys(text)
    )


def _check_file_keys(path: Path, text: str) -> None:
    """``AddonError`` for a key the add-on sets (naming its options)."""
    for key in _file_keys(text):
        if key not in FILE_KEYS:
            options_instead = MQTT_OPTIONS if key == "mqtt" else "its Configuration tab"
            raise AddonError(
                f"{path}: {key!r} is set by the add-on (the options {options_instead}, and the "
                f"Supervisor's MQTT service); the file holds only {', '.join(FILE_KEYS[:-1])} "
                f"and {FILE_KEYS[-1]}"
            )


def no_mappings_yet(path: Path, text: str) -> str:
    """The one line for a mappings file without ``mappings`` (the starter left untouched):
    where its commented examples start."""
    lines = text.splitlines()
    where = next((n for n, line in enumerate(lines, 1) if line.startswith("# attributes:")), None)
    where = where or next((n for n, x in enumerate(lines, 1) if x.startswith("# mappings:")), None)
    examples = (
        f"uncomment the examples from line {where} on (remove the '# ' in front of each line) "
        "and edit them for your devices"
        if where
        else "add them (see the add-on's Documentation tab)"
    )
    return f"{path}:{where or 1}: no mappings yet: {examples}, then restart the add-on"


def build_config(options: dict[str, Any], paths: AddonPaths) -> BridgeConfig:
    """The bridge configuration: the mappings file's ``attributes``/``mappings``/``read``
    (problems are reported with that file's lines) plus what the options and the Supervisor
    give. Raises ``AddonError`` (``SettingsError`` naming each bad option) or ``ConfigError``
    (problems in the mappings file only)."""
    accounts = check_options(options)
    mappings_file = mappings_path(options, paths)
    ensure_mappings_file(mappings_file)
    try:
        text = mappings_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise AddonError(f"can't read the mappings file {mappings_file}: {err}") from None
    _check_file_keys(mappings_file, text)
    mqtt = broker(options, paths)
    log.info(
        "MQTT broker %s:%d%s%s, from %s",
        mqtt.host,
        mqtt.port,
        " (TLS)" if mqtt.tls else "",
        f" as {mqtt.username}" if mqtt.username else "",
        mqtt.source,
    )
    env = dict(os.environ)
    sections: dict[str, dict[str, Any]] = {
        "exist": _exist_section(accounts, env),
        "mqtt": {"host": mqtt.host, "port": mqtt.port},
        "bridge": {
            # absolute: a relative one would be taken from the config dir
            "state_dir": str(paths.data_dir.absolute()),
            "log_level": str(options.get("log_level") or "INFO").upper(),
        },
        "http": {"enabled": True, "host": paths.http_host, "port": paths.http_port},
    }
    if paths.exist_base_url:  # the flag wins over $EXIST_BASE_URL, as in `authorize`
        sections["exist"]["base_url"] = paths.exist_base_url
        env.pop(BASE_URL_VARIABLE, None)
    if mqtt.username:
        sections["mqtt"]["username"] = mqtt.username
    if mqtt.password:
        sections["mqtt"]["password"] = _Env(MQTT_PASSWORD_VAR)
        env[MQTT_PASSWORD_VAR] = mqtt.password
    if mqtt.tls:
        sections["mqtt"]["tls"] = True
    for option, (section, key) in PASSED_THROUGH.items():
        if options.get(option) not in (None, ""):
            sections[section][key] = options[option]
    generated = yaml.dump(sections, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
    user_text = text.rstrip("\n")
    full = user_text + "\n\n# --- set by the add-on ---\n" + generated
    try:
        config = parse_config(full, str(mappings_file), base_dir=paths.config_dir, env=env)
    except ConfigError as err:
        if _no_mappings(text):  # the starter left untouched: say where its examples are
            raise AddonError(no_mappings_yet(mappings_file, text)) from None
        origins = _origins(options, mqtt, accounts)
        raise split_problems(err, len(user_text.splitlines()), origins) from None
    options_of = {
        **OPTION_OF,
        "exist.accounts": "the Exist accounts, add-on options `exist_token`, `exist_account` "
        "and `accounts`",
    }
    return replace(config, key_names=options_of)


def _exist_section(accounts: list[AccountOption], env: dict[str, str]) -> dict[str, Any]:
    """The ``exist`` section's token, or its ``accounts`` (``exist_token``'s first) when the
    options list several; each token goes into ``env`` and the section says ``!env``."""
    env[TOKEN_VAR] = accounts[0].token
    if accounts[0].name is None:
        return {"token": _Env(TOKEN_VAR)}
    listed: list[dict[str, Any]] = [{"name": accounts[0].name, "token": _Env(TOKEN_VAR)}]
    for index, account in enumerate(accounts[1:]):
        var = ACCOUNT_TOKEN_VAR.format(index)
        env[var] = account.token
        item: dict[str, Any] = {"name": account.name, "token": _Env(var)}
        if account.timezone is not None:
            item["timezone"] = account.timezone
        if account.requests_per_hour is not None:
            item["requests_per_hour"] = account.requests_per_hour
        listed.append(item)
    return {"accounts": listed}


def _origins(
    options: dict[str, Any], mqtt: Broker, accounts: list[AccountOption]
) -> dict[str, str]:
    """Each generated configuration key -> what set it, for messages."""
    origins = {
        **OPTION_OF,
        # exist.accounts[0] is exist_token's, exist.accounts[N + 1] the option's accounts[N]
        "exist.accounts": "add-on option `accounts`",
        "exist.accounts[0]": "add-on option `exist_token`",
        "exist.accounts[0].name": "add-on option `exist_account`",
        "exist.accounts[0].token": "add-on option `exist_token`",
        "exist.base_url": "--exist-base-url",
        "bridge.state_dir": "--data-dir",
        "bridge.log_level": "add-on option `log_level`",
        "http": "--http-host/--http-port",
    }
    for position, account in enumerate(accounts[1:], 1):
        origins[f"exist.accounts[{position}]"] = f"add-on option `{account.option}`"
        for key in ACCOUNT_TYPES:
            origins[f"exist.accounts[{position}].{key}"] = f"add-on option `{account.option}.{key}`"
    for key in ("host", "port", "username", "password", "tls"):
        option = f"mqtt_{key}"
        set_by_option = options.get(option) not in (None, "") or (
            key == "host" and options.get("mqtt_host")
        )
        origins[f"mqtt.{key}"] = (
            f"add-on option `{option}`" if set_by_option else f"{key} from {mqtt.source}"
        )
    return origins


class _Env(str):
    """A value written as ``!env NAME``."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Env, lambda dumper, value: dumper.represent_scalar("!env", str(value)))
