"""``exist-bridge backfill``: fill Exist with the past, from Home Assistant or a CSV.

Reads history (``sources``), replays it through the configuration's mappings (``replay``), plans
what to send and sends it within the request budget (``send``). ``--dry-run`` prints the plan and
sends nothing (no request to Exist, except reading the profile's time zone when the configuration
doesn't name one and it was never read).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

from ..cli_options import add_config, load_or_say
from ..config.model import SINGLE_ACCOUNT, BridgeConfig
from ..exist.errors import ExistError
from ..pipeline.buffer.integrity import close_outside_bridge, inspect_outbox, lost_message
from ..pipeline.buffer.outbox import Outbox
from ..pipeline.output.exist_output import ExistAdapter
from ..state_dir import OUTBOX_FILE
from . import send as sd
from .plan import HA_TOKEN_ENV, Backfill, BackfillOptions, backfill_client, plan_backfill

__all__ = ["BackfillOptions", "add_backfill", "plan_backfill", "run_backfill", "send_plan"]


def run_backfill(
    config: BridgeConfig,
    options: BackfillOptions,
    stdout: TextIO,
    stderr: TextIO,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    exist: ExistAdapter | None = None,
) -> int:
    """Plan, print the plan, and (unless a dry run) send; returns the exit code."""

    def say(text: str = "") -> None:
        stdout.write(text + "\n")
        stdout.flush()

    state_dir = Path(config.bridge.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    exist = exist or backfill_client(config, options, state_dir, clock=clock, sleep=sleep)
    backfill = plan_backfill(config, options, exist, clock(), stderr)
    show_plan(backfill, say)
    if options.dry_run or not backfill.plan.items:  # with no items, show_plan said so
        if options.dry_run:
            say("dry run: nothing sent")
        return 0
    report = send_plan(backfill, exist, state_dir, options.overwrite, sleep, stderr)
    if report is None:
        return 1
    show_report(report, say)
    return 1 if report.failed else 0


# ------------------------------------------------------------------------------ show


def show_plan(backfill: Backfill, say: Callable[[str], None]) -> None:
    """The plan in words: the history read, each attribute's days and total, what is left out,
    and how long the budget makes it take."""
    totals, plan, budget = backfill.totals, backfill.plan, backfill.budget
    say(
        f"backfill from {backfill.source}, {backfill.start} to {backfill.end} ({backfill.timezone})"
        + (f" for account {backfill.account}" if backfill.account else "")
    )
    if totals.day_totals:
        say(f"read {totals.records} day total(s): {totals.events} in range")
    else:
        say(
            f"read {totals.records} record(s): {totals.events} event(s) in range, "
            f"{totals.unmatched} on no mapping"
            + "".join(f", {n} rejected ({k})" for k, n in sorted(totals.rejected.items()))
        )
    sources = source_days(plan.items, totals.sources)
    for name, a in sorted(plan.summary().items()):
        total = a["total"]
        shown = f"{int(total)}" if float(total).is_integer() else f"{total}"
        say(
            f"  {name}: {a['days']} day(s) {a['first']}..{a['last']}, total {shown}"
            + "".join(f"; {where}: {spans}" for where, spans in sources.get(name, {}).items())
        )
    for note in totals.notes:
        say(note)
    if plan.live:
        say(
            f"left out {len(plan.live)} day(s) the live bridge has written (--overwrite to "
            "replace them): " + _some(plan.live)
        )
    for name, days in sorted(plan.unknown.items()):
        say(
            f"not sent: {name} ({days} day(s)) is neither in the configuration's attributes nor "
            "owned by this client: add it to attributes (or fix the name)"
            if not backfill.account
            else f"not sent: {name} ({days} day(s)) is neither an attribute of account "
            f"{backfill.account} (one its mappings write) nor owned by this client: map it to "
            "that account (or fix the name, or pick another --account)"
        )
    if plan.done:
        say(f"already sent by an earlier run: {plan.done} total(s)")
    if not plan.items:
        say("nothing to send" + (": every total was sent by an earlier run" if plan.done else ""))
        return
    wait = backfill.eta + budget.wait if plan.requests else 0.0
    say(
        f"to send: {len(plan.items)} total(s) in {plan.requests} request(s); budget "
        f"{budget.remaining} of {budget.allowed} left this hour, "
        + (f"so it takes about {sd.duration_text(wait)}" if wait > 0 else "so all go now")
    )


def show_report(report: sd.SendReport, say: Callable[[str], None]) -> None:
    """What a run sent, waited for, and what Exist refused."""
    if report.live:
        say(
            f"left out {len(report.live)} day(s) the live bridge wrote while this run waited "
            "(--overwrite to replace them): " + _some(sorted(report.live))
        )
    say(
        f"sent {report.sent} total(s) in {report.requests} request(s)"
        + (f", waited {sd.duration_text(report.waited)} for the budget" if report.waited else "")
    )
    for item in report.failed[:20]:
        say(
            f"refused by Exist: {item.get('name')} {item.get('date')}: "
            f"{item.get('error_code', '?')}: {item.get('error', '')}"
        )


def source_days(
    items: list[dict], sources: dict[tuple[str, str], str]
) -> dict[str, dict[str, str]]:
    """Per attribute, per source (statistics, history), the plan's days as date ranges
    (``2023-01-01..2023-03-04, 2023-03-09``); empty when the totals name no sources."""
    days: dict[str, dict[str, list[date]]] = {}
    for item in items:
        where = sources.get((item["name"], item["date"]))
        if where is not None:
            got = days.setdefault(item["name"], {}).setdefault(where, [])
            got.append(date.fromisoformat(item["date"]))
    return {
        name: {where: _spans(sorted(dates)) for where, dates in by.items()}
        for name, by in days.items()
    }


def _spans(dates: list[date]) -> str:
    """Consecutive dates as ``first..last`` ranges, separated by commas."""
    spans: list[list[date]] = []
    for day in dates:
        if spans and day - spans[-1][1] == timedelta(days=1):
            spans[-1][1] = day
        else:
            spans.append([day, day])
    return ", ".join(f"{a}" if a == b else f"{a}..{b}" for a, b in spans)


def _some(days: list[tuple[str, str]]) -> str:
    """The first five (attribute, date) pairs, and ``...`` for more."""
    return ", ".join(f"{a} {d}" for a, d in days[:5]) + (" ..." if len(days) > 5 else "")


# ------------------------------------------------------------------------------ send


def send_plan(
    backfill: Backfill,
    exist: ExistAdapter,
    state_dir: Path,
    overwrite: bool,
    sleep: Callable[[float], None],
    stderr: TextIO,
    bar: sd.Bar | None = None,
) -> sd.SendReport | None:
    """Send the plan, claiming each day in the live bridge's outbox just before its request;
    None when Exist stopped it (what it confirmed is kept: the same command sends the rest).
    ``bar``: the progress shown (default: a bar on ``stderr``)."""
    plan, progress = backfill.plan, backfill.progress
    exist.bootstrap()
    lost = inspect_outbox(state_dir / OUTBOX_FILE)  # claims need the live bridge's outbox
    if lost:
        raise ValueError(lost_message(lost))
    # the live bridge's, for the plan's account: claim each of its days just before sending
    outbox = Outbox(state_dir / OUTBOX_FILE, account=backfill.account)
    if backfill.first and backfill.account:  # the single account's rows become this account's
        outbox.claim_also = (SINGLE_ACCOUNT,)

    def claim(keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
        return outbox.claim_backfill(keys, overwrite)

    try:
        return sd.send(
            plan,
            exist,
            progress,
            sleep=sleep,
            bar=bar or sd.Bar(plan.requests, stderr),
            claim=claim,
        )
    except (ExistError, KeyboardInterrupt) as err:
        left = len(plan.items) - sum(
            1 for i in plan.items if progress.done(i["name"], i["date"], i["value"])
        )
        stderr.write(
            f"\nbackfill stopped with {left} total(s) not sent yet"
            + (f" ({err})" if isinstance(err, ExistError) else "")
            + "; what Exist confirmed is kept in "
            f"{progress.path}: run the same command again to send the rest\n"
        )
        if isinstance(err, KeyboardInterrupt):
            raise
        return None
    finally:
        close_outside_bridge(outbox)  # never looks like a killed bridge's deleted log


# ------------------------------------------------------------------------------ the command


def add_backfill(sub: argparse._SubParsersAction) -> None:
    """Register ``exist-bridge backfill``."""
    p = sub.add_parser(
        "backfill",
        help="fill Exist with past days from Home Assistant's history or a CSV",
        description="Replay history through the configuration's mappings (the modes mean the "
        "same as live) and send each day's total as a dated update: 35 per request, inside the "
        "request budget (it waits rather than hit 429), resumable and idempotent (progress in "
        "state_dir/backfill.json), never replacing a day the live bridge wrote unless "
        "--overwrite. Shows the plan first; --dry-run stops there.",
    )
    add_config(p)
    p.add_argument(
        "--from",
        dest="start",
        required=True,
        type=_day,
        metavar="DATE",
        help="first local date (YYYY-MM-DD)",
    )
    p.add_argument(
        "--to",
        dest="end",
        type=_day,
        metavar="DATE",
        help="last local date (default: yesterday; today is the live bridge's)",
    )
    p.add_argument(
        "--home-assistant",
        metavar="URL",
        help=f"Home Assistant's URL; the long-lived token from ${HA_TOKEN_ENV} or --ha-token-file",
    )
    p.add_argument(
        "--ha-token-file",
        type=Path,
        metavar="FILE",
        help="a file holding Home Assistant's long-lived access token",
    )
    p.add_argument(
        "--statistics",
        action="store_true",
        help="read Home Assistant's long-term statistics (hourly rows kept for years, over its "
        "websocket API) for the entities that have them; the REST history for the others and "
        "for days the statistics lack",
    )
    p.add_argument(
        "--csv",
        type=Path,
        metavar="FILE",
        help="a CSV: date,attribute,value (day totals) or timestamp,entity,state "
        "(replayed through the mappings)",
    )
    p.add_argument(
        "--entity",
        action="append",
        default=[],
        metavar="ENTITY[=ATTRIBUTE:MODE]",
        help="a Home Assistant entity: alone, replayed on its mqtt_statestream topic "
        "through the mappings; with =ATTRIBUTE:MODE (update, counter, duration, "
        "increment = each change to on), mapped directly. With --statistics, MODE may be a "
        "statistics kind (change, sum, max, min, state, mean; default from the statistic: "
        "change for a sum, mean for a mean), optionally followed by :UNIT to convert to. "
        "Repeatable",
    )
    p.add_argument(
        "--statestream-prefix",
        default="homeassistant",
        metavar="PREFIX",
        help="mqtt_statestream's base_topic (default: %(default)s)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (days, attributes, totals, requests, time) and stop",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="also replace days the live bridge has written"
    )
    p.add_argument(
        "--account",
        metavar="NAME",
        help="the Exist account the history goes to (a name in exist.accounts; default: the "
        "first): its token, budget, time zone and mappings",
    )
    p.set_defaults(handler=cmd_backfill)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def cmd_backfill(args: argparse.Namespace, out: Any) -> int:
    """The ``backfill`` handler (``out``: the CLI's output, with ``stdout``/``stderr``)."""
    config = load_or_say(args.config, out)
    if config is None:
        return 1
    token = os.environ.get(HA_TOKEN_ENV)
    if args.ha_token_file is not None:
        try:
            token = args.ha_token_file.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise OSError(f"--ha-token-file {args.ha_token_file}: {err.strerror}") from None
    options = BackfillOptions(
        start=args.start,
        end=args.end,
        home_assistant=args.home_assistant,
        ha_token=token,
        statistics=args.statistics,
        csv=args.csv,
        entities=args.entity,
        statestream_prefix=args.statestream_prefix,
        dry_run=args.dry_run,
        overwrite=args.overwrite,
        account=args.account,
    )
    return run_backfill(config, options, out.stdout, out.stderr)
