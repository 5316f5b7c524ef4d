"""Issue 20: the release checked before anyone tags it. Both wheels are built from this checkout
(``dists/build.py``, as the release workflow does), each installed into a fresh virtualenv from
the wheel alone (its dependencies from the package index, no source tree on ``sys.path``: every
command runs outside the checkout), then used as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest
import requests

from ..support.mock_cli import start_mock, stop_mock
from ..support.shared import once_per_run

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
VERSION = (ROOT / "VERSION").read_text().strip()
TOKEN = "0123456789abcdef0123456789abcdef01234567"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: nothing pointing into this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return {**env, **extra}


class Venv:
    """A virtualenv in ``path`` (a fresh one unless ``create`` is false: one made before);
    ``run`` runs one of its commands from ``cwd``."""

    def __init__(self, path: Path, cwd: Path, create: bool = True):
        if create:
            venv.EnvBuilder(with_pip=True, clear=True).create(path)
        self.bin = path / "bin"
        self.cwd = cwd
        cwd.mkdir(exist_ok=True)

    def install(self, *requirements: str, find_links: Path) -> None:
        self.run(
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--find-links",
            str(find_links),
            *requirements,
            timeout=600,
            check=True,
        )

    def run(
        self, command: str, *args: str, timeout: float = 120, check: bool = False, **env: str
    ) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [str(self.bin / command), *args],
            cwd=self.cwd,
            env=clean_env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    def python(self, code: str) -> subprocess.CompletedProcess:
        return self.run("python", "-c", code)

    def distributions(self) -> dict[str, str]:
        listed = self.run("pip", "list", "--format", "json", "--disable-pip-version-check")
        return {d["name"].lower(): d["version"] for d in json.loads(listed.stdout)}


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """Both distributions, sdist and wheel, built from this checkout (once per test run: the
    builds share the checkout's folders)."""

    def build(outdir: Path) -> None:
        subprocess.run(
            [sys.executable, str(ROOT / "dists" / "build.py"), "--outdir", str(outdir), "--check"],
            check=True,
            capture_output=True,
            timeout=600,
        )

    return once_per_run(tmp_path_factory, "dist", build)


def wheel(dist: Path, name: str) -> Path:
    [found] = dist.glob(f"{name.replace('-', '_')}-{VERSION}-py3-none-any.whl")
    return found


def shared_venv(tmp_path_factory, name: str, *requirements: str, find_links: Path) -> Venv:
    """A virtualenv with ``requirements``, made once per test run (pytest-xdist workers share
    it); each worker runs its commands from a folder of its own."""

    def make(path: Path) -> None:
        Venv(path, path.parent / f"{name}-setup").install(*requirements, find_links=find_links)

    path = once_per_run(tmp_path_factory, f"{name}-venv", make)
    return Venv(path, tmp_path_factory.mktemp(name), create=False)


@pytest.fixture(scope="module")
def bridge(dist, tmp_path_factory) -> Venv:
    return shared_venv(
        tmp_path_factory, "bridge", str(wheel(dist, "exist-mqtt-bridge")), find_links=dist
    )


@pytest.fixture(scope="module")
def mock(dist, tmp_path_factory) -> Venv:
    return shared_venv(
        tmp_path_factory, "mock", str(wheel(dist, "mock-exist")), "pytest", find_links=dist
    )


def test_the_sdists_are_deliberately_minimal(dist):
    import tarfile

    for name, packages in (
        ("exist-mqtt-bridge", ("mqtt_bridge/", "exist_demo/")),
        ("mock-exist", ("mock_exist/",)),
    ):
        [sdist] = dist.glob(f"{name.replace('-', '_')}-{VERSION}.tar.gz")
        with tarfile.open(sdist) as archive:
            members = archive.getmembers()
        assert not [m.name for m in members if m.issym() or m.islnk()]  # real files only
        names = {m.name.split("/", 1)[1] for m in members if "/" in m.name}
        tops = {n.split("/")[0] for n in names if n}
        assert tops <= {
            *(p.rstrip("/") for p in packages),
            f"{name.replace('-', '_')}.egg-info",
            "pyproject.toml",
            "setup.py",
            "setup.cfg",
            "README.md",
            "LICENSE",
            "VERSION",
            "PKG-INFO",
        }, tops
        assert "tests" not in tops


def test_the_bridge_wheel_alone_runs(bridge, tmp_path):
    where = bridge.python("import mqtt_bridge; print(mqtt_bridge.__file__)").stdout
    assert "site-packages" in where and str(ROOT) not in where
    assert bridge.run("exist-bridge", "--version").stdout == f"exist-bridge {VERSION}\n"
    assert bridge.run("exist-bridge", "init", "bridge.yaml", check=True).returncode == 0
    checked = bridge.run(
        "exist-bridge", "check", "-c", "bridge.yaml", EXIST_TOKEN="t" * 40, MQTT_PASSWORD="p"
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "bridge.yaml: OK" in checked.stdout


def test_the_bridge_brings_no_flask_and_no_pytest_plugin(bridge):
    for module in ("flask", "werkzeug", "mock_exist"):
        done = bridge.python(f"import {module}")
        assert done.returncode == 1 and "ModuleNotFoundError" in done.stderr, module
    plugins = bridge.python(
        "from importlib.metadata import entry_points; print(len(entry_points(group='pytest11')))"
    )
    assert plugins.stdout.strip() == "0"
    installed = bridge.distributions()
    assert "flask" not in installed and installed["exist-mqtt-bridge"] == VERSION


def test_the_demo_without_the_emulator_says_what_to_install(bridge):
    done = bridge.run("exist-bridge", "demo", "--duration", "1")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'exist-mqtt-bridge[demo]'" in lines[0], lines


def test_the_mock_wheel_alone_serves_the_api_and_passes_its_conformance_suite(mock):
    where = mock.python("import mock_exist; print(mock_exist.__file__)").stdout
    assert "site-packages" in where and str(ROOT) not in where
    assert mock.python("import mqtt_bridge").returncode == 1
    assert mock.python("import paho").returncode == 1
    assert mock.run("mock-exist", "--version").stdout.strip() == f"mock-exist {VERSION}"
    proc, port, _ = start_mock(
        "--token", TOKEN, command=[str(mock.bin / "mock-exist")], cwd=mock.cwd, env=clean_env()
    )
    try:
        url = f"http://127.0.0.1:{port}"
        profile = requests.get(
            f"{url}/api/2/accounts/profile/",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert profile.status_code == 200 and profile.json()["username"]
        conformance = mock.run(
            "python",
            "-m",
            "mock_exist.conformance",
            "--base-url",
            url,
            "--token",
            TOKEN,
            timeout=300,
        )
        assert conformance.returncode == 0, conformance.stdout + conformance.stderr
    finally:
        stop_mock(proc)


def test_the_mock_wheels_pytest_plugin_gives_the_fixture(mock):
    (mock.cwd / "test_throwaway.py").write_text(
        textwrap.dedent(
            """
            import requests


            def test_counts(mock_exist):
                headers = {"Authorization": f"Bearer {mock_exist.token}"}
                base = f"{mock_exist.url}/api/2/attributes"
                requests.post(f"{base}/acquire/", json=[{"template": "coffees"}], headers=headers)
                requests.post(
                    f"{base}/increment/",
                    json=[{"name": "coffees", "date": "2024-05-01", "value": 2}],
                    headers=headers,
                )
                assert mock_exist.state.value("coffees", "2024-05-01") == 2
            """
        )
    )
    done = mock.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_throwaway.py")
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr


def test_the_demo_extra_from_the_two_wheels_runs_the_demo(dist, tmp_path):
    env = Venv(tmp_path / "venv", tmp_path / "work")
    env.install(f"exist-mqtt-bridge[demo]=={VERSION}", find_links=dist)
    assert env.distributions()["mock-exist"] == VERSION
    done = env.run("exist-bridge", "demo", "--duration", "15", timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
