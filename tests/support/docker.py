"""The Docker files as tests read them: compose.yaml interpolated, mock-exist's argparse on a
command, the Dockerfile's build stages (shared by tests/docker and tests/mock)."""

from __future__ import annotations

import argparse
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dockerfile
import yaml

from mock_exist import cli as mock_cli

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "compose.yaml"

TOKEN = "0123456789abcdef0123456789abcdef01234567"
ENV_ONLINE = {"EXIST_TOKEN": TOKEN}
ENV_OFFLINE = {"EXIST_TOKEN": TOKEN, "BRIDGE_CONFIG": "bridge.offline.yaml"}


class InterpolationError(ValueError):
    """``${VAR:?message}`` with VAR unset or empty: compose refuses the file."""


_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """The compose interpolation forms compose.yaml uses: ``${VAR}``, ``${VAR:-default}`` and
    ``${VAR:?error}``. Any other ``$`` form raises, so a new form can't be silently misread."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def expand(m: re.Match) -> str:
        current = env.get(m.group("name")) or ""
        if m.group("op") == ":-":
            return current or m.group("arg")
        if m.group("op") == ":?" and not current:
            raise InterpolationError(f"{m.group('name')}: {m.group('arg')}")
        return current

    out = _VAR.sub(expand, value)
    if "$" in _VAR.sub("", value):
        raise InterpolationError(f"an interpolation form this test doesn't know: {value!r}")
    return out


def load_compose(env: dict[str, str], path: Path = COMPOSE_FILE) -> dict:
    """compose.yaml (or ``path``) read and interpolated with ``env``."""
    return interpolate(yaml.safe_load(path.read_text(encoding="utf-8")), env)


def parse_mock_command(argv: list[str]) -> tuple[argparse.Namespace | None, str]:
    """``mock-exist``'s own argparse on ``argv``: (namespace, "") or (None, error text)."""
    err = io.StringIO()
    parser = mock_cli.build_parser()
    parser._print_message = lambda message, file=None: err.write(message or "")  # type: ignore
    try:
        return parser.parse_args(argv), ""
    except SystemExit:
        return None, err.getvalue().strip()


@dataclass
class Stage:
    base: str  # the image reference with ARG defaults substituted, or an earlier stage's name
    name: str | None
    commands: list  # dockerfile.Command


def stages(text: str) -> list[Stage]:
    """The build stages, as BuildKit's parser (the ``dockerfile`` package) reads them."""
    global_args: dict[str, str] = {}
    out: list[Stage] = []
    for command in dockerfile.parse_string(text):
        if command.cmd == "FROM":
            words = list(command.value)
            base = re.sub(
                r"\$\{(\w+)\}|\$(\w+)",
                lambda m: global_args.get(m.group(1) or m.group(2), ""),
                words[0],
            )
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else None
            out.append(Stage(base, name, []))
        elif not out:
            if command.cmd == "ARG":
                key, _, value = command.value[0].partition("=")
                global_args[key] = value.strip('"')
        else:
            out[-1].commands.append(command)
    return out
