"""Edges the start-up and health checks must not let through (issue 11, items 6 and 7): a SIGKILLed
bridge reported healthy from its last heartbeat; a missing or garbage token file, a token file
readable by others, TLS files that aren't PEM."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from mqtt_bridge.state_dir import HEALTH_FILE, LOCK_FILE, lock_state_dir

from ..support.bridge import BRIDGE_CMD, bridge_process, status_check
from ..support.config import button_config
from ..support.net import free_port
from ..support.waiting import wait_until

# --------------------------------------------------------------------------- item 6: the lock


def test_status_check_fails_at_once_when_the_bridge_was_sigkilled(mock_exist, mosquitto, tmp_path):
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text(button_config(mock_exist, mosquitto.port, tmp_path))
    log = tmp_path / "bridge.log"
    with log.open("w") as sink:
        proc = bridge_process(cfg, stdout=sink, stderr=subprocess.STDOUT)
    try:

        def healthy() -> bool:
            assert proc.poll() is None, log.read_text()
            return status_check(cfg).returncode == 0

        try:
            wait_until(healthy, timeout=90)
        except AssertionError as err:
            raise AssertionError(f"{err}: {status_check(cfg)}\n{log.read_text()}") from None
        plain = subprocess.run(
            [*BRIDGE_CMD, "status", "-c", str(cfg)], capture_output=True, text=True, timeout=60
        )
        assert f"bridge:          running (pid {proc.pid})" in plain.stdout, plain.stdout
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
        proc.wait(10)
    beat = json.loads((tmp_path / "state" / HEALTH_FILE).read_text())
    assert beat["broker_connected"] is True and not beat["stopped"]  # it still looks alive
    started = time.monotonic()
    dead = status_check(cfg, "--max-age", "3600")
    took = time.monotonic() - started
    assert time.time() - beat["at"] < 3600  # the heartbeat alone would pass
    assert dead.returncode == 1, dead.stdout
    assert "no bridge holds the lock" in dead.stderr and LOCK_FILE in dead.stderr, dead.stderr
    assert took < 30  # no waiting for the heartbeat to age
    as_json = subprocess.run(
        [*BRIDGE_CMD, "status", "-c", str(cfg), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(as_json.stdout)["running"] is False
    plain = subprocess.run(
        [*BRIDGE_CMD, "status", "-c", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert "bridge:          not running" in plain.stdout, plain.stdout


def test_a_health_probe_holding_the_lock_briefly_does_not_stop_a_bridge_starting(tmp_path):
    """``status`` learns whether the lock is held by taking it (shared) for an instant; a bridge
    starting at that instant must wait for it, not report the directory in use."""
    state = tmp_path / "state"
    state.mkdir()
    probe = os.open(state / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
    release = threading.Timer(0.3, lambda: os.close(probe))
    release.start()
    handle = lock_state_dir(state)  # raised StateDirInUse before
    try:
        assert (state / LOCK_FILE).read_text() == f"pid {os.getpid()}\n"
    finally:
        handle.close()
        release.join()


# --------------------------------------------------------------------------- item 7: files

MINIMAL_TOKEN_FILE = """\
exist:
  base_url: http://127.0.0.1:9
  token_file: {token_file}
  client_id: c
  client_secret: s
  timezone: UTC
mqtt:
  host: 127.0.0.1
  port: {port}
{tls}bridge:
  state_dir: {state}
mappings:
  - {{topic: door, attribute: fridge_opens}}
attributes:
  - {{name: fridge_opens, label: Fridge opens, group: food, value_type: 0}}
"""


def _config(tmp_path: Path, token_file: Path, tls: str = "", port: int = 1883) -> Path:
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text(
        MINIMAL_TOKEN_FILE.format(
            token_file=token_file, tls=tls, port=port, state=tmp_path / "state"
        )
    )
    return cfg


def _good_token_file(path: Path) -> Path:
    path.write_text(json.dumps({"access_token": "a" * 40, "refresh_token": "r" * 40}))
    path.chmod(0o600)
    return path


def _check(cfg: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*BRIDGE_CMD, "check", "-c", str(cfg)], capture_output=True, text=True, timeout=60
    )


def test_check_accepts_a_good_private_token_file(tmp_path):
    cfg = _config(tmp_path, _good_token_file(tmp_path / "token.json"))
    done = _check(cfg)
    assert done.returncode == 0, done.stderr
    assert "token_file" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no file"),
        ("this is not json {", "not valid JSON"),
        ('{"refresh_token": "r"}', "no access_token"),
        ("[1, 2]", "JSON object"),
    ],
    ids=["missing", "garbage", "no-access-token", "not-an-object"],
)
def test_check_refuses_a_missing_or_garbage_token_file(tmp_path, content, reason):
    token = tmp_path / "token.json"
    if content is not None:
        token.write_text(content)
        token.chmod(0o600)
    done = _check(_config(tmp_path, token))
    assert done.returncode == 1, done.stdout
    line = next(x for x in done.stderr.splitlines() if "exist.token_file" in x)
    assert str(token) in line and reason in line, done.stderr
    assert "Traceback" not in done.stderr


def test_check_warns_about_a_token_file_readable_by_others(tmp_path):
    token = _good_token_file(tmp_path / "token.json")
    token.chmod(0o644)
    done = _check(_config(tmp_path, token))
    assert done.returncode == 0, done.stderr  # a warning: it works, but others can read it
    line = next(x for x in done.stdout.splitlines() if "exist.token_file" in x)
    assert line.startswith("warning: ") and str(token) in line and "0644" in line, done.stdout
    assert "chmod 600" in line


def test_run_warns_about_a_token_file_readable_by_others(tmp_path):
    """The bridge itself logs the warning at start (then is stopped with SIGTERM)."""
    token = _good_token_file(tmp_path / "token.json")
    token.chmod(0o640)
    cfg = _config(tmp_path, token, port=free_port())  # no broker there: it keeps retrying
    proc = bridge_process(cfg, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True).start()
    try:
        wait_until(lambda: any("exist.token_file" in line for line in output), timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    line = next(x for x in output if "exist.token_file" in x)
    assert "WARNING" in line and str(token) in line and "0640" in line, output


def _pem_pair(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate and its key (the openssl command line)."""
    cert, key = tmp_path / "client.crt", tmp_path / "client.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=bridge-test",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def _tls(**files: Path) -> str:
    return "  tls:\n" + "".join(f"    {k}: {v}\n" for k, v in files.items())


def test_check_refuses_a_ca_file_that_is_not_pem(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")
    cfg = _config(tmp_path, _good_token_file(tmp_path / "token.json"), tls=_tls(ca_certs=ca))
    done = _check(cfg)
    assert done.returncode == 1, done.stdout
    line = next(x for x in done.stderr.splitlines() if "mqtt.tls.ca_certs" in x)
    assert str(ca) in line and "PEM" in line, done.stderr


def test_check_accepts_good_tls_files_and_refuses_bad_client_ones(tmp_path):
    cert, key = _pem_pair(tmp_path)
    token = _good_token_file(tmp_path / "token.json")
    good = _check(_config(tmp_path, token, tls=_tls(ca_certs=cert, certfile=cert, keyfile=key)))
    assert good.returncode == 0, good.stderr

    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN NOTHING-----\nAAAA\n-----END NOTHING-----\n")
    bad_key = _check(_config(tmp_path, token, tls=_tls(certfile=cert, keyfile=junk)))
    assert bad_key.returncode == 1
    line = next(x for x in bad_key.stderr.splitlines() if "mqtt.tls." in x)
    assert "mqtt.tls.keyfile" in line and str(junk) in line, bad_key.stderr

    bad_cert = _check(_config(tmp_path, token, tls=_tls(certfile=junk, keyfile=key)))
    assert bad_cert.returncode == 1
    line = next(x for x in bad_cert.stderr.splitlines() if "mqtt.tls." in x)
    assert "mqtt.tls.certfile" in line and str(junk) in line, bad_cert.stderr

    (tmp_path / "other").mkdir()
    other_cert, _ = _pem_pair(tmp_path / "other")
    mismatch = _check(_config(tmp_path, token, tls=_tls(certfile=other_cert, keyfile=key)))
    assert mismatch.returncode == 1
    line = next(x for x in mismatch.stderr.splitlines() if "mqtt.tls." in x)
    assert "mqtt.tls.keyfile" in line and str(key) in line and "match" in line, mismatch.stderr


def test_run_with_a_non_pem_ca_file_exits_with_one_line(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("garbage\n")
    cfg = _config(tmp_path, _good_token_file(tmp_path / "token.json"), tls=_tls(ca_certs=ca))
    done = subprocess.run(
        [*BRIDGE_CMD, "run", "-c", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    problem = [x for x in done.stderr.splitlines() if "mqtt.tls.ca_certs" in x]
    assert len(problem) == 1 and str(ca) in problem[0], done.stderr
    assert problem[0] in _check(cfg).stderr.splitlines()  # the same line as `check`


def test_the_broker_link_names_the_tls_file_it_cannot_load(tmp_path):
    """If a TLS file goes bad after the check (rotated certificate...), the broker link still
    fails with the key and the file, not with OpenSSL's bare ``[X509] PEM lib``."""
    from mqtt_bridge.config import MqttSettings, TlsSettings
    from mqtt_bridge.pipeline.input.mqtt import BrokerLink
    from mqtt_bridge.tls import TlsFileError

    ca = tmp_path / "ca.pem"
    ca.write_text("garbage\n")
    settings = MqttSettings(host="127.0.0.1", port=8883, tls=TlsSettings(ca_certs=ca))
    with pytest.raises(TlsFileError) as caught:
        BrokerLink(settings, ["a"], processor=None, writer=None)
    assert isinstance(caught.value, ValueError)  # the CLI reports ValueErrors as one line
    assert "mqtt.tls.ca_certs" in str(caught.value) and str(ca) in str(caught.value)
