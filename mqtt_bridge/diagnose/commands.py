"""The command-line side of trying mappings (``exist-bridge test``): its parser and its run,
kept out of ``cli.py``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from ..config import BridgeConfig


def add_test_parser(
    sub: argparse._SubParsersAction, config_arg: Callable[[argparse.ArgumentParser], None]
) -> argparse.ArgumentParser:
    """``exist-bridge test -c FILE -t TOPIC -m PAYLOAD [--retained]``."""
    p = sub.add_parser(
        "test",
        help="try one message against the mappings, offline",
        description="Check the configuration as `exist-bridge check` does (and say so), then show "
        "what the bridge would do with one MQTT message: for each mapping, "
        "whether its topic matches, the condition's result, the extracted value, the "
        "edge/counter/duration state used (read-only from the state directory, if the bridge "
        "has run) and the effect (attribute, local date, +amount or total), or why the message "
        "would be skipped. Contacts neither the broker nor Exist and writes nothing. Exit "
        "status 0 when the message would change something in Exist, 1 when it would not or when "
        "`exist-bridge check` finds a problem in the configuration.",
    )
    config_arg(p)
    p.add_argument(
        "-t",
        "--topic",
        required=True,
        type=message_topic,
        help="the message's topic (a real topic: no + or # wildcards)",
    )
    p.add_argument(
        "-m",
        "--message",
        required=True,
        metavar="PAYLOAD",
        help="its payload (one starting with - other than a number: --message=-PAYLOAD)",
    )
    p.add_argument("--retained", action="store_true", help="as a retained message")
    return p


def message_topic(text: str) -> str:
    """``-t``: a topic a message can be published on (wildcards are for subscriptions)."""
    if not text:
        raise argparse.ArgumentTypeError("a message's topic can't be empty")
    if "+" in text or "#" in text:
        raise argparse.ArgumentTypeError(
            f"a message's topic has no wildcards (+ or #), got {text!r}: give a topic a device "
            "publishes on, e.g. zigbee2mqtt/coffee_button"
        )
    return text


CHECKED = "checks (the same as `exist-bridge check`)"


def check_lines(config: BridgeConfig) -> list[str]:
    """What ``exist-bridge check`` says of a loaded configuration, as ``test`` and ``run
    --dry-run`` say it before trying messages: its warnings, then OK or its problems."""
    lines = [f"warning: {warning}" for warning in config.warnings]
    if not config.check_errors:
        return [*lines, f"{CHECKED}: OK"]
    lines.append(f"{CHECKED}: {len(config.check_errors)} problem(s) in the configuration:")
    return lines + [f"  {error}" for error in config.check_errors]


def run_test(config: BridgeConfig, args: argparse.Namespace, say: Callable[[str], None]) -> int:
    """Print the checks of the configuration, then the trial of ``args.topic``/``args.message``;
    0 if it would count and the configuration passes ``check``, else 1."""
    from ..pipeline.process.trial import describe, try_message

    for line in check_lines(config):
        say(line)
    trial = try_message(config, args.topic, os.fsencode(args.message), args.retained)
    lines = describe(trial)
    if config.check_errors:
        lines[-1] = (
            "result: not until the configuration's problem(s) above are fixed (`exist-bridge "
            "check` refuses it; nothing was written)"
        )
    for line in lines:
        say(line)
    return 0 if trial.counts and not config.check_errors else 1
