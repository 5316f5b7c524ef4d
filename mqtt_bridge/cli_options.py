"""Options several ``exist-bridge`` commands share: ``-c``'s help, ``--exist-base-url`` (the
``exist.base_url`` key's name on the command line) and the old flag names kept as hidden aliases
that still work and say their new name."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

CONFIG_HELP = "the YAML configuration (`exist-bridge init` writes a commented starter to edit)"
BASE_URL_FLAG = "--exist-base-url"  # exist.base_url, $EXIST_BASE_URL
DEPRECATED = "deprecated_flags"  # the namespace's list of (old, new) flags used


def add_config(p: argparse.ArgumentParser) -> None:
    """``-c FILE`` (required) and ``-v``."""
    p.add_argument("-c", "--config", required=True, metavar="FILE", help=CONFIG_HELP)
    add_verbose(p)


def load_or_say(
    path: str, out: Any, check_files: bool = False, also: str = "", require_secrets: bool = True
) -> Any:
    """The configuration in ``path`` (a ``BridgeConfig``), or None after saying its problems as
    ``check`` does (``say_problems``; ``also`` ends the first line). ``check_files`` and
    ``require_secrets``: as ``load_config``'s."""
    from .config import ConfigError, load_config

    try:
        return load_config(path, check_files=check_files, require_secrets=require_secrets)
    except ConfigError as err:
        say_problems(out, path, len(err.problems), str(err), also)
        return None


def say_problems(out: Any, path: str, count: int, text: str, also: str = "") -> None:
    """``exist-bridge: error: FILE: N problem(s) in the configuration``, then the problems
    (one ``FILE:LINE: key: message`` a line) on stderr."""
    out.error(f"{path}: {count} problem(s) in the configuration{also}")
    out.stderr.write(text + "\n")


def add_verbose(p: argparse.ArgumentParser) -> None:
    """``-v``, also accepted after the command (``exist-bridge run -c f -v``)."""
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="debug logging, tracebacks on errors",
    )


class _Renamed(argparse.Action):
    """An old flag's name: stores like the new one and notes the old name was used."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str, **kwargs: Any):
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)
        self.new = new

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        used = getattr(namespace, DEPRECATED, None) or []
        setattr(namespace, DEPRECATED, [*used, (option_string, self.new)])


def add_old_name(p: argparse.ArgumentParser, old: str, new: str, dest: str) -> None:
    """``old`` as a hidden alias of the option ``new`` (stored in ``dest``)."""
    p.add_argument(old, dest=dest, action=_Renamed, new=new, default=argparse.SUPPRESS)


def deprecation_warnings(args: argparse.Namespace) -> list[str]:
    """One line per old flag name used: ``--base-url is now --exist-base-url ...``."""
    return [
        f"{old} is now {new} (the old name still works, for now)"
        for old, new in getattr(args, DEPRECATED, None) or []
    ]
