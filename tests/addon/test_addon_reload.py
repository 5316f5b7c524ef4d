"""Issue 27, item 2 in the add-on: its bridge reloads the options and the mappings file on
SIGHUP (``exist-bridge addon`` as a process, the fake Supervisor, a mosquitto with users and the
mock over real HTTP). A mistake in the file is refused with the file's own line; a good file
applies (a mapping added, its topic counted), and a changed option that sets what is built at
start is named, by its option name, as needing a restart."""

from __future__ import annotations

import json
import signal

import pytest

from mqtt_bridge.diagnose.reload_command import last_reload

from ..support.addon import MQTT_PASSWORD, MQTT_USER, Addon, healthz_until
from ..support.days import today
from ..support.mqtt import Publisher
from ..support.waiting import wait_until

pytestmark = pytest.mark.slow

FRIDGE = """\
attributes:
  - name: fridge_opens
    label: Fridge opens
    group: food
    value_type: 0
mappings:
  - topic: kitchen/fridge
    attribute: fridge_opens
"""
WITH_STEPS = (
    FRIDGE
    + """\
  - topic: sensor/steps
    attribute: steps
    mode: update
"""
)
STEPS_TEMPLATE = "  - template: steps\nmappings:"


def test_the_addon_reloads_its_mappings_file_on_sighup(tmp_path):
    addon = Addon(tmp_path)
    mappings = tmp_path / "config" / "exist-bridge.yaml"
    mappings.parent.mkdir()
    mappings.write_text(FRIDGE)
    try:
        addon.start()
        healthz_until(addon, 200)
        pub = Publisher(addon.broker.port, login=(MQTT_USER, MQTT_PASSWORD))
        pub.publish("kitchen/fridge", "open")
        wait_until(lambda: addon.mock.state.value("fridge_opens", today()) == 1, timeout=30)

        mappings.write_text(FRIDGE + "  - topic: sensor/steps\n    atribute: steps\n")
        addon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: last_reload(tmp_path / "data") is not None, timeout=30)
        refused = last_reload(tmp_path / "data")
        assert refused["result"] == "refused"
        typo = f"{mappings}:10: mappings[1].atribute: unknown key (did you mean 'attribute'?)"
        assert typo in refused["problems"]

        options = json.loads((tmp_path / "data" / "options.json").read_text())
        options["timezone"] = "Europe/Berlin"
        (tmp_path / "data" / "options.json").write_text(json.dumps(options))
        mappings.write_text(WITH_STEPS.replace("mappings:", STEPS_TEMPLATE, 1))
        addon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: last_reload(tmp_path / "data") != refused, timeout=30)
        applied = last_reload(tmp_path / "data")
        assert applied["result"] == "applied", applied
        assert applied["subscribed"] == ["sensor/steps"]
        assert applied["restart_needed"] == [
            "add-on option `timezone`"
        ]  # named as the user sets it
        pub.publish("sensor/steps", "4321")
        pub.publish("kitchen/fridge", "open")
        wait_until(
            lambda: (
                addon.mock.state.value("steps", today()) == 4321
                and addon.mock.state.value("fridge_opens", today()) == 2
            ),
            timeout=30,
        )
        pub.close()
        addon.proc.send_signal(signal.SIGTERM)
        assert addon.proc.wait(30) == 0
    finally:
        addon.close()


def test_with_watch_config_a_saved_mappings_file_is_applied_without_a_signal(tmp_path):
    addon = Addon(tmp_path)
    options_file = tmp_path / "data" / "options.json"
    options = json.loads(options_file.read_text())
    options_file.write_text(json.dumps({**options, "watch_config": True}))
    mappings = tmp_path / "config" / "exist-bridge.yaml"
    mappings.parent.mkdir()
    mappings.write_text(FRIDGE)
    try:
        addon.start()
        healthz_until(addon, 200)
        pub = Publisher(addon.broker.port, login=(MQTT_USER, MQTT_PASSWORD))
        mappings.write_text(WITH_STEPS.replace("mappings:", STEPS_TEMPLATE, 1))  # saved
        wait_until(lambda: last_reload(tmp_path / "data") is not None, timeout=30)
        applied = last_reload(tmp_path / "data")
        assert applied["result"] == "applied", applied
        assert applied["subscribed"] == ["sensor/steps"]
        assert "the configuration file changed (watch_config)" in addon.log_text()
        pub.publish("sensor/steps", "1234")
        wait_until(lambda: addon.mock.state.value("steps", today()) == 1234, timeout=30)
        pub.close()
        addon.proc.send_signal(signal.SIGTERM)
        assert addon.proc.wait(30) == 0
    finally:
        addon.close()


def test_the_watch_config_option_is_checked_like_the_others():
    from mqtt_bridge.addon.options import SettingsError, check_options

    with pytest.raises(SettingsError) as err:
        check_options({"exist_token": "t", "watch_config": "yes"})
    assert "add-on option `watch_config`: expected true or false, got 'yes'" in str(err.value)
