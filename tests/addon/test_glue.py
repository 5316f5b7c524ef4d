"""The add-on's glue against a local fake Supervisor over real HTTP: where the broker comes from,
what overrides it, the starter file, and one-line errors naming the option, file or service."""

from __future__ import annotations

import json
import logging

import pytest

from mqtt_bridge.addon import glue
from mqtt_bridge.addon.glue import AddonError, AddonPaths, build_config, read_options
from mqtt_bridge.cli import run

from ..support.supervisor import FakeSupervisor, mqtt_service

TOKEN = "the-addon-token"
MAPPINGS = "mappings:\n  - topic: home/steps\n    attribute: steps\n    mode: update\n"


@pytest.fixture
def supervisor():
    with FakeSupervisor(TOKEN, mqtt_service("core-mosquitto", 1883, "addons", "pw-from-sv")) as s:
        yield s


def paths(tmp_path, supervisor, token: str | None = TOKEN) -> AddonPaths:
    (tmp_path / "config").mkdir(exist_ok=True)
    return AddonPaths(
        options=tmp_path / "options.json",
        data_dir=tmp_path / "data",
        config_dir=tmp_path / "config",
        supervisor_url=supervisor.url,
        supervisor_token=token,
    )


def with_mappings(p: AddonPaths, text: str = MAPPINGS) -> AddonPaths:
    (p.config_dir / glue.DEFAULT_MAPPINGS_FILE).write_text(text)
    return p


OPTIONS = {"exist_token": "exist-t0ken", "log_level": "info"}


def test_the_broker_and_its_credentials_come_from_the_supervisor(tmp_path, supervisor):
    config = build_config(OPTIONS, with_mappings(paths(tmp_path, supervisor)))
    assert (config.mqtt.host, config.mqtt.port) == ("core-mosquitto", 1883)
    assert config.mqtt.username == "addons"
    assert config.mqtt.password.reveal() == "pw-from-sv"
    assert config.mqtt.tls is None
    assert supervisor.requests == [("/services/mqtt", f"Bearer {TOKEN}")]
    assert config.exist.token.reveal() == "exist-t0ken"
    assert config.bridge.state_dir == tmp_path / "data"
    assert (config.http.enabled, config.http.host, config.http.port) == (True, "0.0.0.0", 8099)


def test_ssl_from_the_service_turns_tls_on(tmp_path, supervisor):
    supervisor.mqtt = {**supervisor.mqtt, "ssl": True, "port": 8883}
    config = build_config(OPTIONS, with_mappings(paths(tmp_path, supervisor)))
    assert config.mqtt.tls is not None and config.mqtt.port == 8883


def test_mqtt_host_in_the_options_means_the_supervisor_is_not_asked(tmp_path, supervisor):
    options = {**OPTIONS, "mqtt_host": "10.0.0.5", "mqtt_username": "me", "mqtt_password": "x"}
    config = build_config(options, with_mappings(paths(tmp_path, supervisor)))
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.username) == ("10.0.0.5", 1883, "me")
    assert supervisor.requests == []


def test_each_mqtt_option_overrides_only_its_own_value(tmp_path, supervisor):
    options = {**OPTIONS, "mqtt_username": "bridge", "mqtt_password": "own-pw", "mqtt_port": 1884}
    config = build_config(options, with_mappings(paths(tmp_path, supervisor)))
    assert config.mqtt.host == "core-mosquitto"
    assert (config.mqtt.port, config.mqtt.username) == (1884, "bridge")
    assert config.mqtt.password.reveal() == "own-pw"


def test_options_pass_through_to_the_configuration(tmp_path, supervisor):
    options = {
        **OPTIONS,
        "timezone": "Europe/Paris",
        "event_delay": 120,
        "total_delay": 1800,
        "requests_per_hour": 100,
        "mqtt_discovery": True,
        "mqtt_client_id": "exist-addon",
        "log_level": "debug",
    }
    config = build_config(options, with_mappings(paths(tmp_path, supervisor)))
    assert config.exist.timezone == "Europe/Paris"
    assert (config.bridge.event_delay, config.bridge.total_delay) == (120, 1800)
    assert config.exist.requests_per_hour == 100
    assert config.mqtt.discovery is True and config.mqtt.client_id == "exist-addon"
    assert config.bridge.log_level == "DEBUG"


def test_no_mqtt_service_is_a_clear_error(tmp_path, supervisor):
    supervisor.mqtt = None
    with pytest.raises(
        AddonError, match="offers no MQTT broker .*Service not available.*Mosquitto"
    ):
        build_config(OPTIONS, with_mappings(paths(tmp_path, supervisor)))


def test_a_token_the_supervisor_refuses_is_a_clear_error(tmp_path, supervisor):
    with pytest.raises(AddonError, match="offers no MQTT broker .*Unauthorized"):
        build_config(OPTIONS, with_mappings(paths(tmp_path, supervisor, token="wrong")))


def test_no_supervisor_token_is_a_clear_error(tmp_path, supervisor):
    with pytest.raises(AddonError, match="SUPERVISOR_TOKEN is not set.*mqtt_host"):
        build_config(OPTIONS, with_mappings(paths(tmp_path, supervisor, token=None)))


def test_an_empty_exist_token_is_a_clear_error(tmp_path, supervisor):
    with pytest.raises(AddonError, match="exist_token is empty"):
        build_config({**OPTIONS, "exist_token": " "}, with_mappings(paths(tmp_path, supervisor)))


def test_the_mappings_file_may_not_set_what_the_addon_sets(tmp_path, supervisor):
    p = with_mappings(paths(tmp_path, supervisor), "mqtt:\n  host: x\n" + MAPPINGS)
    with pytest.raises(AddonError, match="exist-bridge.yaml: 'mqtt' is set by the add-on"):
        build_config(OPTIONS, p)


def test_a_mistake_in_the_mappings_file_is_reported_at_its_line(tmp_path, supervisor):
    from mqtt_bridge.config import ConfigError

    text = MAPPINGS.replace("mode: update", "mode: updte")
    with pytest.raises(ConfigError) as err:
        build_config(OPTIONS, with_mappings(paths(tmp_path, supervisor), text))
    assert f"{tmp_path / 'config' / 'exist-bridge.yaml'}:4: mappings[0].mode" in str(err.value)


def test_the_starter_is_written_once_and_never_overwritten(tmp_path, supervisor, caplog):
    p = paths(tmp_path, supervisor)
    starter = p.config_dir / glue.DEFAULT_MAPPINGS_FILE
    no_mappings = pytest.raises(AddonError, match=r"exist-bridge.yaml:9: no mappings yet")
    with caplog.at_level(logging.WARNING, "exist_bridge.addon"), no_mappings:
        build_config(OPTIONS, p)  # the starter has only comments: no mappings yet
    assert "wrote a starter mappings file to " + str(starter) in caplog.text
    assert "# mappings:" in starter.read_text()
    starter.write_text(MAPPINGS)
    build_config(OPTIONS, p)
    assert starter.read_text() == MAPPINGS


def test_the_starter_examples_are_a_valid_configuration_once_uncommented(tmp_path, supervisor):
    p = paths(tmp_path, supervisor)
    glue.ensure_mappings_file(p.config_dir / "exist-bridge.yaml")
    lines = (p.config_dir / "exist-bridge.yaml").read_text().splitlines()
    body = [line[2:] for line in lines if line.startswith("# ") and line[2:3] in " amr"]
    text = "\n".join(b for b in body if b.startswith(("attributes", "mappings", "read", "  ")))
    config = build_config(OPTIONS, with_mappings(p, text))
    assert [m.attribute for m in config.mappings] == ["fridge_opens", "steps"]
    assert config.read.enabled and config.read.attributes == ("mood", "sleep", "steps")


def test_the_mappings_file_may_hold_read(tmp_path, supervisor):
    text = MAPPINGS + "read:\n  attributes: all\n  insights: true\n"
    config = build_config(OPTIONS, with_mappings(paths(tmp_path, supervisor), text))
    assert config.read.all and config.read.insights
    wide = "mappings:\n  - {topic: '#', attribute: steps, mode: update}\nread: {attributes: all}\n"
    from mqtt_bridge.config import ConfigError

    with pytest.raises(ConfigError, match="would consume the mirror's own topics"):
        build_config(OPTIONS, with_mappings(paths(tmp_path, supervisor), wide))


def test_options_file_errors_name_the_file(tmp_path):
    with pytest.raises(AddonError, match="does not exist: `exist-bridge addon` runs inside"):
        read_options(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(AddonError, match="can't read the add-on options .*bad.json"):
        read_options(tmp_path / "bad.json")


def test_the_command_reports_one_line_without_a_traceback(tmp_path, supervisor, capsys):
    import io

    (tmp_path / "options.json").write_text(json.dumps({**OPTIONS, "exist_token": ""}))
    out, err = io.StringIO(), io.StringIO()
    code = run(
        ["addon", "--options", str(tmp_path / "options.json"), "--config-dir", str(tmp_path)],
        out,
        err,
    )
    assert code == 1
    assert err.getvalue().strip().splitlines()[-1] == (
        "exist-bridge: error: exist_token is empty: paste your Exist token in the add-on's "
        "Configuration tab"
    )
    assert "Traceback" not in err.getvalue()


def _lost_outbox(tmp_path) -> list[str]:
    """A data directory whose outbox went missing (the marker says there was one); the
    command line of the add-on on it."""
    from mqtt_bridge.pipeline.buffer.integrity import write_marker

    data = tmp_path / "data"
    data.mkdir()
    write_marker(data / "outbox.sqlite")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / glue.DEFAULT_MAPPINGS_FILE).write_text(MAPPINGS)
    return [
        "addon",
        "--options",
        str(tmp_path / "options.json"),
        "--data-dir",
        str(data),
        "--config-dir",
        str(tmp_path / "config"),
    ]


def test_a_lost_outbox_stops_the_addon_and_names_the_option(tmp_path):
    import io

    argv = _lost_outbox(tmp_path)
    (tmp_path / "options.json").write_text(json.dumps({**OPTIONS, "mqtt_host": "broker"}))
    err = io.StringIO()
    assert run(argv, io.StringIO(), err) == 1
    last = err.getvalue().strip().splitlines()[-1]
    assert last.startswith("exist-bridge: error: the outbox was lost or damaged: ")
    assert last.endswith(
        "(in the add-on: turn on accept_fresh_outbox in its Configuration tab, start it once, "
        "then turn the option off again)"
    )


def test_accept_fresh_outbox_is_passed_to_the_bridge(tmp_path, monkeypatch):
    import io

    import mqtt_bridge.service

    argv = _lost_outbox(tmp_path)
    options = {**OPTIONS, "mqtt_host": "broker", "accept_fresh_outbox": True}
    (tmp_path / "options.json").write_text(json.dumps(options))
    asked = {}
    monkeypatch.setattr(
        mqtt_bridge.service, "run", lambda config, **kw: asked.update(kw, config=config) or 0
    )
    assert run(argv, io.StringIO(), io.StringIO()) == 0
    assert asked["accept_fresh_outbox"] is True
    assert asked["config"].bridge.state_dir == tmp_path / "data"
