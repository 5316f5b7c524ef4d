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
